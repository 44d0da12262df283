-- The directory search of issue 6 (B3: text + kinds + capability + a radius): a search for some
-- kinds around a point reads, per kind, only the entries in the latitude band of its box and
-- checks the longitude in the index, instead of every provider of those kinds in the country.
-- (SQLite's index also carries `search_text` and `id`; here a btree entry is limited to about
-- 2.7 kB, which a long folded name and address could pass, and PostgreSQL fetches the rows of a
-- bitmap scan in page order anyway.)
create index organisations_kind_geo_idx on organisations (kind, latitude, longitude);
