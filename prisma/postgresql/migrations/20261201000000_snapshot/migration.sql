-- CreateTable
CREATE TABLE "events" (
    "seq" BIGINT NOT NULL,
    "id" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "distinctId" TEXT NOT NULL,
    "timestamp" TIMESTAMPTZ(3) NOT NULL,
    "receivedAt" TIMESTAMPTZ(3) NOT NULL,
    "properties" TEXT NOT NULL,
    "sessionId" TEXT,
    "environment" TEXT NOT NULL,

    CONSTRAINT "events_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "persons" (
    "distinctId" TEXT NOT NULL,
    "properties" TEXT NOT NULL,
    "firstSeen" TIMESTAMPTZ(3) NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "persons_pkey" PRIMARY KEY ("distinctId")
);

-- CreateTable
CREATE TABLE "snapshot_state" (
    "id" INTEGER NOT NULL,
    "evictedThroughSeq" BIGINT NOT NULL,
    "takenAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "snapshot_state_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "persons_lastSeen_idx" ON "persons"("lastSeen");

