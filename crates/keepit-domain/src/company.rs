//! Company-name normalisation, and matching a Keepit account to an existing customer.
//!
//! Keepit account names and the MSP's own customer list rarely agree letter for letter:
//! "Contoso Ltd." in one is "CONTOSO LIMITED" or "Contoso" in the other. Names are
//! compared after folding case and accents, dropping punctuation and legal suffixes.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Legal-form suffixes, as token sequences after punctuation has become spaces.
/// Longer sequences come first so "pty ltd" is removed as one suffix.
const LEGAL_SUFFIXES: &[&[&str]] = &[
    &["pty", "ltd"],
    &["pty", "limited"],
    &["co", "ltd"],
    &["gmbh", "and", "co", "kg"],
    &["gmbh", "co", "kg"],
    &["and", "co"],
    &["a", "s"],
    &["b", "v"],
    &["s", "a"],
    &["n", "v"],
    &["inc"],
    &["incorporated"],
    &["ltd"],
    &["limited"],
    &["llc"],
    &["llp"],
    &["gmbh"],
    &["ag"],
    &["aps"],
    &["as"],
    &["asa"],
    &["ab"],
    &["oy"],
    &["oyj"],
    &["bv"],
    &["nv"],
    &["sa"],
    &["sarl"],
    &["sas"],
    &["srl"],
    &["spa"],
    &["pty"],
    &["plc"],
    &["corp"],
    &["corporation"],
    &["co"],
    &["company"],
    &["kg"],
];

/// Letters that Unicode decomposition leaves alone but that people type without
/// the diacritic (Danish and Norwegian ø, German ß, Polish ł, ...).
fn fold_special(c: char) -> Option<&'static str> {
    Some(match c {
        'ø' | 'Ø' => "o",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'ß' => "ss",
        'đ' | 'Đ' | 'ð' | 'Ð' => "d",
        'ł' | 'Ł' => "l",
        'þ' | 'Þ' => "th",
        'ı' => "i",
        _ => return None,
    })
}

/// Normalises a company name for matching.
///
/// Lowercases; removes accents ("Société" → "societe", "Ørsted" → "orsted");
/// turns `&` into "and"; treats every other non-alphanumeric character as a space;
/// collapses whitespace; and removes trailing legal suffixes (Inc, Ltd, LLC, GmbH,
/// ApS, A/S, AB, AS, BV, SA, Pty, PLC, Corp and similar), repeatedly, as long as a
/// name remains. Letters of non-Latin scripts are kept as they are.
pub fn normalize_company_name(name: &str) -> String {
    let mut folded = String::with_capacity(name.len());
    for c in name.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        if let Some(replacement) = fold_special(c) {
            folded.push_str(replacement);
        } else if c == '&' {
            folded.push_str(" and ");
        } else if c.is_alphanumeric() {
            folded.extend(c.to_lowercase());
        } else {
            folded.push(' ');
        }
    }
    let mut tokens: Vec<&str> = folded.split_whitespace().collect();
    loop {
        let suffix = LEGAL_SUFFIXES
            .iter()
            .find(|suffix| tokens.len() > suffix.len() && tokens.ends_with(suffix));
        match suffix {
            Some(suffix) => tokens.truncate(tokens.len() - suffix.len()),
            None => break,
        }
    }
    tokens.join(" ")
}

/// The outcome of matching one Keepit account against existing customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerMatch<K> {
    /// Exactly one customer has the same normalised name: link to it.
    Linked(K),
    /// Several customers have the same normalised name: a person must choose.
    Ambiguous(Vec<K>),
    /// No customer has that name (or the name is empty): create a new customer.
    NoMatch,
}

/// Matches `keepit_name` against `(key, name)` candidates by normalised name.
pub fn match_customer<'a, K, I>(keepit_name: &str, candidates: I) -> CustomerMatch<K>
where
    I: IntoIterator<Item = (K, &'a str)>,
{
    let wanted = normalize_company_name(keepit_name);
    if wanted.is_empty() {
        return CustomerMatch::NoMatch;
    }
    let mut hits: Vec<K> = candidates
        .into_iter()
        .filter(|(_, name)| normalize_company_name(name) == wanted)
        .map(|(key, _)| key)
        .collect();
    match hits.len() {
        0 => CustomerMatch::NoMatch,
        1 => CustomerMatch::Linked(hits.remove(0)),
        _ => CustomerMatch::Ambiguous(hits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: &str) {
        assert_eq!(
            normalize_company_name(input),
            expect,
            "normalize({input:?})"
        );
    }

    #[test]
    fn case_punctuation_and_whitespace() {
        check("  Contoso   LTD. ", "contoso");
        check("Fabrikam, Inc.", "fabrikam");
        check("Tailspin-Toys", "tailspin toys");
        check("Northwind\tTraders\n", "northwind traders");
        check("Smith & Sons", "smith and sons");
    }

    #[test]
    fn every_listed_legal_suffix() {
        for suffix in [
            "Inc",
            "Ltd",
            "LLC",
            "GmbH",
            "ApS",
            "A/S",
            "AB",
            "AS",
            "BV",
            "B.V.",
            "SA",
            "S.A.",
            "Pty",
            "PLC",
            "Corp",
            "Pty Ltd",
            "Corporation",
            "Limited",
        ] {
            check(&format!("Acme {suffix}"), "acme");
        }
        check("Acme Holding GmbH & Co. KG", "acme holding");
        check("Acme Co., Ltd.", "acme");
    }

    #[test]
    fn suffixes_are_only_removed_at_the_end_and_never_empty_a_name() {
        check("AB Volvo", "ab volvo");
        check("Inc", "inc");
        check("A/S", "a s");
        check("Ltd Ltd", "ltd");
        check("Limited Editions Ltd", "limited editions");
    }

    #[test]
    fn accents_and_nordic_letters() {
        check("Société Générale SA", "societe generale");
        check("Ørsted A/S", "orsted");
        check("Æble Købmand ApS", "aeble kobmand");
        check("Müller GmbH", "muller");
        check("Straße AG", "strasse");
        check("Łódź Sp", "lodz sp");
        check("Ａｃｍｅ", "acme");
    }

    #[test]
    fn non_latin_names_are_kept() {
        check("株式会社トヨタ", "株式会社トヨタ");
        check("Газпром", "газпром");
    }

    #[test]
    fn matching_exact_suffix_accents_ambiguous_and_none() {
        let customers = [
            (1, "Contoso Ltd"),
            (2, "Fabrikam"),
            (3, "Société Générale"),
            (4, "Tailspin Toys Inc"),
            (5, "TAILSPIN TOYS"),
        ];
        assert_eq!(
            match_customer("Fabrikam", customers),
            CustomerMatch::Linked(2)
        );
        assert_eq!(
            match_customer("Contoso Limited", customers),
            CustomerMatch::Linked(1)
        );
        assert_eq!(
            match_customer("Societe Generale S.A.", customers),
            CustomerMatch::Linked(3)
        );
        assert_eq!(
            match_customer("Tailspin Toys", customers),
            CustomerMatch::Ambiguous(vec![4, 5])
        );
        assert_eq!(match_customer("Wingtip", customers), CustomerMatch::NoMatch);
        assert_eq!(match_customer("  ", customers), CustomerMatch::NoMatch);
        assert_eq!(match_customer("", [(1, "")]), CustomerMatch::NoMatch);
    }
}
