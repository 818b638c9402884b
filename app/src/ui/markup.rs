//! Markup written as text, for the parts of a page that never change once
//! drawn and hold no control: on the applications list these cells (name,
//! permissions, usage line) are most of the page, and written as one string
//! each they cost the server a fraction of what a reactive view per element
//! does. The browser takes them as they are, without hydrating them.
//!
//! Only `&'static str` goes in unescaped; every value goes through `text`.

/// A piece of markup being written: UTF-8, since only `str` and ASCII
/// digits go in.
#[derive(Default)]
pub struct Markup(Vec<u8>);

impl Markup {
    pub fn with_capacity(bytes: usize) -> Self {
        Self(Vec::with_capacity(bytes))
    }

    /// Tags and attribute names: literals only.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.extend_from_slice(markup.as_bytes());
        self
    }

    /// A value, as text or inside a double-quoted attribute.
    pub fn text(&mut self, value: &str) -> &mut Self {
        html_escape::encode_quoted_attribute_to_vec(value, &mut self.0);
        self
    }

    /// A whole number, in decimal.
    pub fn int(&mut self, n: i64) -> &mut Self {
        if n < 0 {
            self.0.push(b'-');
        }
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n.unsigned_abs();
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        self.0.extend_from_slice(&digits[at..]);
        self
    }

    pub fn into_string(self) -> String {
        String::from_utf8(self.0)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::Markup;

    #[test]
    fn values_cannot_break_out_of_text_or_attributes() {
        let mut m = Markup::default();
        m.raw("<a title=\"")
            .text("\"><script>x('&')</script>")
            .raw("\">");
        assert_eq!(
            m.into_string(),
            "<a title=\"&quot;&gt;&lt;script&gt;x(&#x27;&amp;&#x27;)&lt;/script&gt;\">"
        );
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 210, -35, 899, i64::MAX, i64::MIN] {
            let mut m = Markup::default();
            m.int(n);
            assert_eq!(m.into_string(), n.to_string());
        }
    }
}
