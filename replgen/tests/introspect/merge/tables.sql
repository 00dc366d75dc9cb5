-- The master of the merge test: what changed since schema.yaml was written.
CREATE SCHEMA mb;
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TYPE kind AS ENUM ('x', 'y');

-- In the spec: `gone` was dropped since, `secret`, `added` and `k` are not listed, `shout` is
-- generated; the spec's `mood` lacks the label added since.
CREATE TABLE artist (
    id integer PRIMARY KEY,
    name text NOT NULL,
    secret text,
    shout text GENERATED ALWAYS AS (name || '!') STORED,
    added integer,
    m mood NOT NULL,
    k kind[]
);

-- In the spec, with a type widened since.
CREATE TABLE mb.label (id integer PRIMARY KEY, name varchar(40));

-- New: a partitioned table (one partition partitioned again), a table with an odd name, and one
-- without a key.
CREATE TABLE measurement (id integer PRIMARY KEY, v numeric) PARTITION BY RANGE (id);
CREATE TABLE measurement_low PARTITION OF measurement FOR VALUES FROM (0) TO (100)
    PARTITION BY RANGE (id);
CREATE TABLE measurement_low_a PARTITION OF measurement_low FOR VALUES FROM (0) TO (50);
CREATE TABLE measurement_high PARTITION OF measurement FOR VALUES FROM (100) TO (200);
CREATE TABLE "New Table" (code text PRIMARY KEY);
CREATE TABLE no_key (a integer);
