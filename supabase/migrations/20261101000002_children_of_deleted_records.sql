
DELETE FROM keap.contact_tags AS c USING keap.contacts AS p
WHERE p.id = c.contact_id AND p.deleted_at IS NOT NULL;
DELETE FROM keap.order_items AS c USING keap.orders AS p
WHERE p.id = c.order_id AND p.deleted_at IS NOT NULL;
