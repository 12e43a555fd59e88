-- +goose Up
-- For the background purge of idempotency records past their retention.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP INDEX idempotency_keys_created;
