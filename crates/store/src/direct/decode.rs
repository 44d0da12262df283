//! A row of a direct read as a serde value: by column name into a struct, by position into a
//! tuple, into the same row types the PostgreSQL side decodes with sqlx's `FromRow`.
//!
//! Values are read in place (`ValueRef`) and handed to the row type borrowed: a `String` field
//! copies its text once, a `NULL` or an ignored column is never copied, and a flattened struct
//! (`#[serde(flatten)]`, which serde buffers) buffers borrowed text. `serde_rusqlite`, used
//! before, read every value as an owned copy first, twice for an `Option`, and the buffering of
//! the patient gate's and an account's flattened rows was 7% of the record read's CPU (issue 6).
//!
//! A flattened struct's values are buffered by serde without the type asked for, so a boolean
//! there (SQLite stores 0 or 1) cannot be decoded; the row types flatten only text and numbers.
//!
//! An error names the column, never the value: a value may be a patient's.

use rusqlite::types::ValueRef;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

/// A decoding failure: the column, when known (never the value).
#[derive(Debug)]
pub(crate) struct DecodeError {
    pub(crate) column: Option<String>,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "column {c} cannot be decoded"),
            None => f.write_str("a row cannot be decoded"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    /// serde's messages may quote the value found: it is dropped here.
    fn custom<T: std::fmt::Display>(_message: T) -> Self {
        DecodeError { column: None }
    }
}

impl DecodeError {
    fn at(self, column: &str) -> Self {
        DecodeError { column: self.column.or_else(|| Some(column.to_string())) }
    }
}

type Result<T> = std::result::Result<T, DecodeError>;

/// One row: a map of its columns by name, or a sequence of them by position.
pub(crate) struct RowDe<'de, 'stmt> {
    pub(crate) row: &'de rusqlite::Row<'stmt>,
    pub(crate) columns: &'de [String],
}

impl<'de> RowDe<'de, '_> {
    /// The value of column `idx` (its name is added by the caller, [`Columns::next`]).
    fn cell(&self, idx: usize) -> Result<Cell<'de>> {
        self.row.get_ref(idx).map(Cell).map_err(|_| DecodeError { column: None })
    }
}

impl<'de> de::Deserializer<'de> for RowDe<'de, '_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_map(Columns { row: self, idx: 0 })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_seq(Columns { row: self, idx: 0 })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct enum identifier ignored_any
    }
}

/// The columns of a row: by name (a map) or by position (a sequence).
struct Columns<'de, 'stmt> {
    row: RowDe<'de, 'stmt>,
    idx: usize,
}

impl<'de> Columns<'de, '_> {
    /// The next column's value, decoded by `seed`.
    fn next<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value> {
        let idx = self.idx;
        self.idx += 1;
        let column = self.row.columns.get(idx).map(String::as_str).unwrap_or_default();
        self.row.cell(idx).and_then(|cell| seed.deserialize(cell)).map_err(|e| e.at(column))
    }

    fn left(&self) -> Option<usize> {
        Some(self.row.columns.len().saturating_sub(self.idx))
    }
}

impl<'de> de::MapAccess<'de> for Columns<'de, '_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(column) = self.row.columns.get(self.idx) else { return Ok(None) };
        seed.deserialize(BorrowedStrDeserializer::new(column.as_str())).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.next(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.left()
    }
}

impl<'de> de::SeqAccess<'de> for Columns<'de, '_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.idx >= self.row.columns.len() {
            return Ok(None);
        }
        self.next(seed).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        self.left()
    }
}

/// One value, borrowed from the row.
struct Cell<'de>(ValueRef<'de>);

/// Text as SQLite holds it, which a foreign writer may have left invalid.
fn text(t: &[u8]) -> Result<&str> {
    std::str::from_utf8(t).map_err(|_| DecodeError { column: None })
}

impl<'de> de::Deserializer<'de> for Cell<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            ValueRef::Null => visitor.visit_none(),
            ValueRef::Integer(i) => visitor.visit_i64(i),
            ValueRef::Real(f) => visitor.visit_f64(f),
            ValueRef::Text(t) => visitor.visit_borrowed_str(text(t)?),
            ValueRef::Blob(b) => visitor.visit_borrowed_bytes(b),
        }
    }

    /// SQLite has no booleans: 0 is false, any other number true.
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            ValueRef::Integer(i) => visitor.visit_bool(i != 0),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            ValueRef::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            ValueRef::Null => visitor.visit_unit(),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    /// A unit variant written as its name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.0 {
            ValueRef::Text(t) => {
                visitor.visit_enum(IntoDeserializer::<DecodeError>::into_deserializer(text(t)?))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    /// An unused column is not read.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit_struct seq tuple tuple_struct map struct identifier
    }
}
