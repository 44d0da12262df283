// Tsunagu: progressive enhancement only. Every core flow works without this file.
"use strict";
