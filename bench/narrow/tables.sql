-- The benchmarks' narrow shape (bench/narrow/schema.yaml): primary key only, no other index.
CREATE TABLE IF NOT EXISTS artist (
    id              integer PRIMARY KEY,
    gid             uuid NOT NULL,
    name            varchar NOT NULL,
    sort_name       varchar NOT NULL,
    begin_date_year smallint,
    type            integer,
    area            integer,
    comment         varchar(255) NOT NULL DEFAULT '',
    edits_pending   integer NOT NULL DEFAULT 0,
    last_updated    timestamptz DEFAULT now()
);
