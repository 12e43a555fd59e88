-- +goose Up
CREATE TABLE events (kind text, at timestamp, span interval);
CREATE SEQUENCE invoice_no START 1000;

-- +goose Down
DROP SEQUENCE invoice_no;
DROP TABLE events;
