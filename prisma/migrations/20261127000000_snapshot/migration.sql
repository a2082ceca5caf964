-- CreateTable
CREATE TABLE "events" (
    "seq" BIGINT NOT NULL PRIMARY KEY,
    "id" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "distinctId" TEXT NOT NULL,
    "timestamp" DATETIME NOT NULL,
    "receivedAt" DATETIME NOT NULL,
    "properties" TEXT NOT NULL,
    "sessionId" TEXT,
    "environment" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "persons" (
    "distinctId" TEXT NOT NULL PRIMARY KEY,
    "properties" TEXT NOT NULL,
    "firstSeen" DATETIME NOT NULL,
    "lastSeen" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "snapshot_state" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "evictedThroughSeq" BIGINT NOT NULL,
    "takenAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "persons_lastSeen_idx" ON "persons"("lastSeen");

