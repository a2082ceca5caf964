-- AlterTable
ALTER TABLE "snapshot_state" ADD COLUMN     "cleanStop" BOOLEAN NOT NULL DEFAULT false;

-- A snapshot written before this column existed says nothing about how its run stopped: count it as a clean stop,
-- so an upgrade is not taken for a crash.
UPDATE "snapshot_state" SET "cleanStop" = true;
