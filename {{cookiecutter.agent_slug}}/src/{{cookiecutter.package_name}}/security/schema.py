"""The tables of agent.db, and the columns an older database gets when a newer agent opens it."""

# reviews.candidates holds the choices a review offers, a JSON list of the job's objects; the column
# keeps the name it had before jobs were pluggable, so older databases open as they are.
# reviews.evidence: what the job checked of the fields (a JSON list of {key, value, found, page,
# line, text}), shown to the reviewer.
SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    content_hash TEXT PRIMARY KEY,
    item_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    crashes INTEGER NOT NULL DEFAULT 0,
    round INTEGER NOT NULL DEFAULT 1,
    received TEXT NOT NULL,
    updated TEXT NOT NULL,
    outbox TEXT,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS reviews (
    item_id TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    reason TEXT NOT NULL,
    fields TEXT NOT NULL,
    candidates TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'pending',
    created TEXT NOT NULL,
    decided TEXT,
    decision TEXT
);
CREATE TABLE IF NOT EXISTS effects (
    key TEXT PRIMARY KEY,
    item_id TEXT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    tries INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    sent TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS effects_pending ON effects (status, next_try);
"""
# Columns added after the first release: a database made by an older agent gets them on open.
MIGRATIONS = {
    ("items", "crashes"): "ALTER TABLE items ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0",
    ("items", "round"): "ALTER TABLE items ADD COLUMN round INTEGER NOT NULL DEFAULT 1",
    ("reviews", "evidence"): "ALTER TABLE reviews ADD COLUMN evidence TEXT NOT NULL DEFAULT '[]'",
}
TABLE_INFO = {"items": "PRAGMA table_info(items)", "reviews": "PRAGMA table_info(reviews)"}
