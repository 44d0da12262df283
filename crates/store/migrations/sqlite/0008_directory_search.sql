-- The directory search of issue 6 (B3: text + kinds + capability + a radius). A search for some
-- kinds around a point reads, per kind, only the entries in the latitude band of its box, and
-- checks the longitude, the folded text (`like`) and the capability (by `id`) in the index
-- itself: the table is read only for the matches, not for every provider of those kinds in the
-- box (at 200,000 providers, 132 rows instead of 1,187 around Kanazawa; docs/performance.md).
create index organisations_kind_geo_idx on organisations (kind, latitude, longitude, search_text, id);
