-- +goose Up
-- Refresh tokens of this user directory, stored hashed (SHA-256 of the
-- opaque token). Tokens refreshed from one another share a family; reusing
-- a spent token revokes its whole family. Times are microseconds since the
-- Unix epoch; 0 means never.
CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY,
    family_id         TEXT NOT NULL,
    user_id           BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_us        BIGINT NOT NULL,
    idle_expires_us   BIGINT NOT NULL,
    family_expires_us BIGINT NOT NULL,
    used_us           BIGINT NOT NULL DEFAULT 0,
    revoked_us        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- +goose Down
DROP TABLE refresh_tokens;
