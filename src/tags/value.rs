//! The value model: register kinds, data types, byte/word orders, and typed values.

use serde::Serialize;

/// Modbus data table a tag lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Coil,
    Discrete,
    Input,
    Holding,
}

impl Kind {
    /// Config and CLI spellings, the one table both parse with.
    pub const NAMES: &[(&str, Kind)] = &[
        ("coil", Kind::Coil),
        ("discrete", Kind::Discrete),
        ("input", Kind::Input),
        ("holding", Kind::Holding),
    ];

    /// True for the one-bit tables (coils, discrete inputs).
    pub fn is_bit(self) -> bool {
        matches!(self, Kind::Coil | Kind::Discrete)
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Coil => "coil",
            Kind::Discrete => "discrete",
            Kind::Input => "input",
            Kind::Holding => "holding",
        }
    }
}

/// Tag data type as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Bool,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    String,
}

impl DataType {
    /// Config and CLI spellings, the one table both parse with.
    pub const NAMES: &[(&str, DataType)] = &[
        ("bool", DataType::Bool),
        ("u16", DataType::U16),
        ("i16", DataType::I16),
        ("u32", DataType::U32),
        ("i32", DataType::I32),
        ("u64", DataType::U64),
        ("i64", DataType::I64),
        ("f32", DataType::F32),
        ("f64", DataType::F64),
        ("string", DataType::String),
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::U16 => "u16",
            DataType::I16 => "i16",
            DataType::U32 => "u32",
            DataType::I32 => "i32",
            DataType::U64 => "u64",
            DataType::I64 => "i64",
            DataType::F32 => "f32",
            DataType::F64 => "f64",
            DataType::String => "string",
        }
    }

    /// True for the integer and float types.
    pub fn is_numeric(self) -> bool {
        !matches!(self, DataType::Bool | DataType::String)
    }
}

/// Byte/word order of multi-register values, named after the 32-bit layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WordOrder {
    #[default]
    Abcd,
    Cdab,
    Badc,
    Dcba,
}

impl WordOrder {
    /// Spellings, the one table config and CLI parse with: lower-case as the
    /// CLI takes them; the config matches them ignoring case (and documents
    /// them upper-case, as `as_str` prints them).
    pub const NAMES: &[(&str, WordOrder)] = &[
        ("abcd", WordOrder::Abcd),
        ("cdab", WordOrder::Cdab),
        ("badc", WordOrder::Badc),
        ("dcba", WordOrder::Dcba),
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WordOrder::Abcd => "ABCD",
            WordOrder::Cdab => "CDAB",
            WordOrder::Badc => "BADC",
            WordOrder::Dcba => "DCBA",
        }
    }
}

/// A decoded, typed tag value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    String(String),
}

impl Value {
    /// The value as a float, for metrics and deadbands; `None` for strings.
    pub fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            Value::Bool(b) => f64::from(u8::from(b)),
            Value::U16(v) => f64::from(v),
            Value::I16(v) => f64::from(v),
            Value::U32(v) => f64::from(v),
            Value::I32(v) => f64::from(v),
            // 64-bit integers lose precision above 2^53; acceptable for metrics and deadbands.
            Value::U64(v) => v as f64,
            Value::I64(v) => v as f64,
            Value::F32(v) => f64::from(v),
            Value::F64(v) => v,
            Value::String(_) => return None,
        })
    }

    /// The value as a float for display: an f32 through its shortest decimal form,
    /// so 230.1f32 shows as 230.1 and not 230.10000610351562. Allocates for f32.
    pub fn as_display_f64(&self) -> Option<f64> {
        match self {
            Value::F32(v) => v.to_string().parse().ok(),
            other => other.as_f64(),
        }
    }

    /// JSON form: numbers stay numbers (64-bit integers exactly), strings and bools as such.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::U16(v) => (*v).into(),
            Value::I16(v) => (*v).into(),
            Value::U32(v) => (*v).into(),
            Value::I32(v) => (*v).into(),
            Value::U64(v) => (*v).into(),
            Value::I64(v) => (*v).into(),
            // Through the shortest decimal form, so 230.1f32 is 230.1 and not 230.10000610351562.
            Value::F32(v) => {
                serde_json::Number::from_f64(v.to_string().parse().unwrap_or(f64::NAN))
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::F64(v) => serde_json::Number::from_f64(*v)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.clone()),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::I16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::I32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::String(v) => write!(f, "{v:?}"),
        }
    }
}
