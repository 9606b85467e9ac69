//! Reading the fields of one result row (a JSON object of `sockjs-bench
//! run` output), for the tables and the targets.

use serde_json::Value;

/// A text field, if `row` has it as text.
pub(crate) fn text<'a>(row: &'a Value, key: &str) -> Option<&'a str> {
    row.get(key).and_then(Value::as_str)
}

/// A number field, if `row` has it as a number.
pub(crate) fn num(row: &Value, key: &str) -> Option<f64> {
    row.get(key).and_then(Value::as_f64)
}

/// Whether `row` is a run of `case` against the peer `label`.
pub(crate) fn is(row: &Value, case: &str, label: &str) -> bool {
    text(row, "case") == Some(case) && text(row, "label") == Some(label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_of_the_right_type_only() {
        let row = json!({"case": "fanout-eventsource", "label": "warp", "sessions": 10000, "errors": "x"});
        assert_eq!(text(&row, "case"), Some("fanout-eventsource"));
        assert_eq!(text(&row, "sessions"), None);
        assert_eq!(num(&row, "sessions"), Some(10000.0));
        assert_eq!(num(&row, "errors"), None);
        assert!(is(&row, "fanout-eventsource", "warp"));
        assert!(!is(&row, "fanout-eventsource", "axum"));
        assert!(!is(&row, "fanout", "warp"));
    }
}
