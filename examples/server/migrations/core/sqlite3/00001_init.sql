-- +goose Up
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE organizations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    status     TEXT NOT NULL CHECK (status IN ('provisioning', 'active', 'suspended', 'deleting')),
    owner_id   INTEGER NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE INDEX organizations_owner ON organizations (owner_id, id);
CREATE INDEX organizations_status ON organizations (status) WHERE status <> 'active';

-- +goose Down
DROP TABLE organizations;
DROP TABLE users;
