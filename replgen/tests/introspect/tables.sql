CREATE SCHEMA mb;
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TYPE mb.fluency AS ENUM ('basic', 'native');

CREATE TABLE everything (
    id integer PRIMARY KEY,
    small smallint NOT NULL,
    big bigint,
    flag boolean,
    r real,
    d double precision,
    price numeric(10,2),
    plain_numeric numeric,
    t text,
    v varchar(20),
    v_any varchar,
    c char(3),
    u uuid,
    day date,
    at time,
    attz timetz,
    ts timestamp,
    ts3 timestamp(3),
    tstz timestamptz,
    span interval,
    bytes bytea,
    j json,
    jb jsonb,
    ip inet,
    net cidr,
    ints integer[],
    texts text[],
    smalls smallint[],
    m mood,
    p positive_int,
    "where" point,
    fl mb.fluency[],
    "Odd Name" text,
    dropped_later integer
);
ALTER TABLE everything DROP COLUMN dropped_later;

CREATE TABLE artist_credit_name (
    artist_credit integer NOT NULL,
    position smallint NOT NULL,
    name varchar NOT NULL,
    PRIMARY KEY (position, artist_credit)
);

CREATE TABLE mb.artist_gid_redirect (gid uuid PRIMARY KEY, new_id integer NOT NULL);

CREATE TABLE "Code Table" (code text PRIMARY KEY, label text);

CREATE TABLE no_key (a integer, b text);
