-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_snapshot_state" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "evictedThroughSeq" BIGINT NOT NULL,
    "takenAt" DATETIME NOT NULL,
    "cleanStop" BOOLEAN NOT NULL DEFAULT false
);
-- A snapshot written before this column existed says nothing about how its run stopped: count it as a clean stop,
-- so an upgrade is not taken for a crash.
INSERT INTO "new_snapshot_state" ("evictedThroughSeq", "id", "takenAt", "cleanStop") SELECT "evictedThroughSeq", "id", "takenAt", true FROM "snapshot_state";
DROP TABLE "snapshot_state";
ALTER TABLE "new_snapshot_state" RENAME TO "snapshot_state";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

