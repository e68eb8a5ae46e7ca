
CREATE TABLE keap.quarantine (
    stream text NOT NULL,
    id bigint NOT NULL,
    error text NOT NULL,
    raw text,
    source text NOT NULL,
    attempts integer NOT NULL DEFAULT 1,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, id)
);
COMMENT ON TABLE keap.quarantine IS
    'Keap records Postgres refused to store: the record (raw, as JSON text), the error, '
    'how often it failed. An entry goes once the record is written or Keap deletes it.';
