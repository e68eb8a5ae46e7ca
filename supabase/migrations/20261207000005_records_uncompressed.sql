-- A record's row stays whole in its table page, uncompressed, up to the page's size.
--
-- By default Postgres compresses (pglz) any row over about 2 KB before storing it. A
-- contact with its fields is about 2 KB of JSON, so nearly every contact was compressed
-- on each write and decompressed on each read of `raw`: that compression was the larger
-- part of what a page upsert cost Postgres (writes of contact pages went from about
-- 12,500 to 18,000 rows a second without it). Rows now take about a third more space,
-- and reading `raw` costs no decompression. Larger rows (over 8 KB) are still compressed
-- and moved out of line as before. Rows already stored keep their form until rewritten.

ALTER TABLE keap.contacts SET (toast_tuple_target = 8160);
ALTER TABLE keap.companies SET (toast_tuple_target = 8160);
ALTER TABLE keap.opportunities SET (toast_tuple_target = 8160);
ALTER TABLE keap.orders SET (toast_tuple_target = 8160);
ALTER TABLE keap.tasks SET (toast_tuple_target = 8160);
ALTER TABLE keap.products SET (toast_tuple_target = 8160);
ALTER TABLE keap.tags SET (toast_tuple_target = 8160);
ALTER TABLE keap.notes SET (toast_tuple_target = 8160);
ALTER TABLE keap.subscriptions SET (toast_tuple_target = 8160);
