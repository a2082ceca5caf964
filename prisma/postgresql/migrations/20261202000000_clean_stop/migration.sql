-- AlterTable
ALTER TABLE "snapshot_state" ADD COLUMN     "cleanStop" BOOLEAN NOT NULL DEFAULT false;

