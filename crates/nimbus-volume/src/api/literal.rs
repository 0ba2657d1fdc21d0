//! The `metadata` list filter. Cinder runs it through Python's
//! `ast.literal_eval`, so clients send `str(dict)`: `{'key': 'value'}`
//! (Tempest, python-cinderclient), or JSON. This reads that one shape, a
//! flat dict of string keys and values in single or double quotes, by
//! hand: nothing is evaluated, the input is walked once, nothing nests.

use std::collections::BTreeMap;

/// The dict, or `None` when `text` is not a flat dict of strings (Cinder
/// then matches no volume: its filter is not a dict).
pub fn parse_str_dict(text: &str) -> Option<BTreeMap<String, String>> {
    let mut p = Parser {
        chars: text.chars().peekable(),
    };
    p.skip_ws();
    p.expect('{')?;
    let mut out = BTreeMap::new();
    p.skip_ws();
    if p.eat('}') {
        return p.end().then_some(out);
    }
    loop {
        p.skip_ws();
        // A trailing comma is legal Python: `{'a': 'b',}`.
        if p.eat('}') {
            break;
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(':')?;
        p.skip_ws();
        let value = p.string()?;
        out.insert(key, value);
        p.skip_ws();
        if p.eat(',') {
            continue;
        }
        p.expect('}')?;
        break;
    }
    p.end().then_some(out)
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.next_if(|c| c.is_whitespace()).is_some() {}
    }

    fn eat(&mut self, want: char) -> bool {
        self.chars.next_if_eq(&want).is_some()
    }

    fn expect(&mut self, want: char) -> Option<()> {
        self.eat(want).then_some(())
    }

    fn end(&mut self) -> bool {
        self.skip_ws();
        self.chars.peek().is_none()
    }

    /// A quoted string with Python's common escapes.
    fn string(&mut self) -> Option<String> {
        let quote = self.chars.next().filter(|c| *c == '\'' || *c == '"')?;
        let mut out = String::new();
        loop {
            match self.chars.next()? {
                c if c == quote => return Some(out),
                '\\' => out.push(self.escape()?),
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self) -> Option<char> {
        Some(match self.chars.next()? {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '0' => '\0',
            'x' => self.hex(2)?,
            'u' => self.hex(4)?,
            'U' => self.hex(8)?,
            c @ ('\\' | '\'' | '"' | '/') => c,
            _ => return None,
        })
    }

    fn hex(&mut self, digits: usize) -> Option<char> {
        let mut n: u32 = 0;
        for _ in 0..digits {
            n = n * 16 + self.chars.next()?.to_digit(16)?;
        }
        char::from_u32(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn python_and_json_dicts() {
        assert_eq!(
            parse_str_dict("{'Type': 'work'}"),
            Some(dict(&[("Type", "work")]))
        );
        assert_eq!(
            parse_str_dict(r#" {"a": "b", 'c':"d" ,} "#),
            Some(dict(&[("a", "b"), ("c", "d")]))
        );
        assert_eq!(parse_str_dict("{}"), Some(BTreeMap::new()));
        assert_eq!(
            parse_str_dict(r"{'it\'s': 'a\x41\u00e9\\'}"),
            Some(dict(&[("it's", "aAé\\")]))
        );
    }

    #[test]
    fn anything_else_is_not_a_dict() {
        for bad in [
            "",
            "Type=work",
            "{'a': 1}",
            "{'a': {'b': 'c'}}",
            "{'a' 'b'}",
            "{'a': 'b'",
            "{'a': 'b'} x",
            "{'a': 'b\\q'}",
            "{'a': '\\ud800'}",
            "{__import__('os')}",
            "['a']",
        ] {
            assert_eq!(parse_str_dict(bad), None, "{bad}");
        }
    }
}
