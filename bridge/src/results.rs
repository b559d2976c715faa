//! Database rows to WAMP results, following the procedure's [`Returns`] shape.
//!
//! scalar → `[value]`; `json` → `[that JSON value]`; void → no arguments; a composite or OUT
//! parameters → `[{name: value}]`; a set of rows → `[[{...}, ...]]`; a set of scalars →
//! `[[v, ...]]`. When streaming, every batch has the set's shape (a list), so a caller concatenates
//! the progressive results and the final one to get what a non-streaming call returns.

use std::sync::Arc;

use wamp::{Dict, Payload, Value};

use crate::catalog::Returns;

/// A batch of rows: column names once, then values in column order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    pub columns: Arc<[String]>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    pub fn new(columns: Arc<[String]>) -> Self {
        Rows { columns, rows: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn object(columns: &[String], row: Vec<Value>) -> Value {
        let d: Dict = columns.iter().cloned().zip(row).collect();
        Value::Dict(d)
    }

    /// The rows as a list in the shape `returns` asks for (objects, or bare values for a set of scalars).
    pub fn into_list(self, returns: &Returns) -> Value {
        let Rows { columns, rows } = self;
        let list = match returns {
            Returns::Values | Returns::Scalar(_) => rows.into_iter().map(|r| r.into_iter().next().unwrap_or(Value::Null)).collect(),
            _ => rows.into_iter().map(|r| Self::object(&columns, r)).collect(),
        };
        Value::List(list)
    }
}

/// The final result payload of a call that returned `rows`.
pub fn shape(returns: &Returns, rows: Rows) -> Payload {
    match returns {
        Returns::Void => Payload::default(),
        Returns::Scalar(_) => {
            let v = rows.rows.into_iter().next().and_then(|r| r.into_iter().next()).unwrap_or(Value::Null);
            Payload::args(vec![v])
        }
        Returns::Record => {
            let Rows { columns, rows } = rows;
            let v = rows.into_iter().next().map_or(Value::Null, |r| Rows::object(&columns, r));
            Payload::args(vec![v])
        }
        Returns::Rows | Returns::Values => Payload::args(vec![rows.into_list(returns)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::SqlType;
    use wamp::dict;

    fn rows(columns: &[&str], rows: Vec<Vec<Value>>) -> Rows {
        Rows { columns: columns.iter().map(|c| c.to_string()).collect::<Vec<_>>().into(), rows }
    }

    #[test]
    fn every_shape() {
        assert_eq!(shape(&Returns::Void, rows(&[], vec![])), Payload::default());
        assert_eq!(shape(&Returns::Scalar(SqlType::Int32), rows(&["r"], vec![vec![7.into()]])), Payload::args(vec![7.into()]));
        let json = Value::Dict(dict! {"a" => 1});
        assert_eq!(shape(&Returns::Scalar(SqlType::Json), rows(&["r"], vec![vec![json.clone()]])), Payload::args(vec![json]));
        assert_eq!(
            shape(&Returns::Record, rows(&["id", "name"], vec![vec![1.into(), "x".into()]])),
            Payload::args(vec![Value::Dict(dict! {"id" => 1, "name" => "x"})])
        );
        assert_eq!(shape(&Returns::Record, rows(&["id"], vec![])), Payload::args(vec![Value::Null]));
        let set = rows(&["id"], vec![vec![1.into()], vec![2.into()]]);
        assert_eq!(
            shape(&Returns::Rows, set.clone()),
            Payload::args(vec![Value::List(vec![Value::Dict(dict! {"id" => 1}), Value::Dict(dict! {"id" => 2})])])
        );
        assert_eq!(shape(&Returns::Values, set), Payload::args(vec![Value::List(vec![1.into(), 2.into()])]));
        assert_eq!(shape(&Returns::Rows, rows(&["id"], vec![])), Payload::args(vec![Value::List(vec![])]));
    }
}
