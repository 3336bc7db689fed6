-- The sample project's own schema: portable SQL, the same script on every dialect.
CREATE TABLE accounts (
    id INTEGER NOT NULL PRIMARY KEY,
    owner VARCHAR(40) NOT NULL UNIQUE,
    balance INTEGER NOT NULL
);

CREATE TABLE ledger (
    id INTEGER NOT NULL PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount INTEGER NOT NULL
);
