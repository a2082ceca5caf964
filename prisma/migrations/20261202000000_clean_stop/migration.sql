-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_snapshot_state" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "evictedThroughSeq" BIGINT NOT NULL,
    "takenAt" DATETIME NOT NULL,
    "cleanStop" BOOLEAN NOT NULL DEFAULT false
);
INSERT INTO "new_snapshot_state" ("evictedThroughSeq", "id", "takenAt") SELECT "evictedThroughSeq", "id", "takenAt" FROM "snapshot_state";
DROP TABLE "snapshot_state";
ALTER TABLE "new_snapshot_state" RENAME TO "snapshot_state";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

