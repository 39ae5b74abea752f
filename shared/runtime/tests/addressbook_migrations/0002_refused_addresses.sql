-- Addresses the address book refuses (a card naming one is a dead letter until removed).
CREATE TABLE refused_addresses (email text PRIMARY KEY);
