-- The case reference as the sending system numbers it (whose numbering, and the number), so
-- that a delivery of any of the case's events — also those the gateway raises itself — can name
-- the samordningsärende in the receiver's format.
ALTER TABLE cases ADD COLUMN reference_issuer TEXT;
ALTER TABLE cases ADD COLUMN reference_value TEXT;
