
ALTER TABLE keap.products ADD COLUMN inventory_count bigint;
ALTER TABLE keap.products ADD COLUMN details_read_at timestamptz;
