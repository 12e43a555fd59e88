-- +goose Up
-- One row per refresh token family (a login and every token refreshed
-- from it). Rotation and revocation serialize on this row: a rotation
-- locks it, checks revoked_us and spends the old token and stores the new
-- one in the same transaction; a revocation sets revoked_us under the same
-- lock. So once a logout or a reuse detection has committed, no token of
-- the family refreshes again, whatever the interleaving. Times are
-- microseconds since the Unix epoch; 0 means never.
CREATE TABLE refresh_families (
    family_id         TEXT PRIMARY KEY,
    user_id           BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_us        BIGINT NOT NULL,
    family_expires_us BIGINT NOT NULL,
    revoked_us        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);
CREATE INDEX refresh_families_expires ON refresh_families (family_expires_us);
CREATE INDEX refresh_families_revoked ON refresh_families (revoked_us) WHERE revoked_us <> 0;

-- Families of the tokens stored before this migration. A family with any
-- revoked token is revoked.
INSERT INTO refresh_families (family_id, user_id, created_us, family_expires_us, revoked_us)
SELECT family_id, MIN(user_id), MIN(created_us), MAX(family_expires_us), MAX(revoked_us)
FROM refresh_tokens GROUP BY family_id;

-- For the background purge of expired and revoked tokens.
CREATE INDEX refresh_tokens_idle_expires ON refresh_tokens (idle_expires_us);
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (revoked_us) WHERE revoked_us <> 0;

-- +goose Down
DROP INDEX refresh_tokens_revoked;
DROP INDEX refresh_tokens_idle_expires;
DROP TABLE refresh_families;
