//! Vocabularies for generated names, and GUIDs in Keepit's format.
//!
//! Every word here was checked against the audit categorisation table: generated
//! messages embed company and connector names, so no word may contain a keyword that
//! would move an event to another category (a test checks every generated event).

use std::collections::HashSet;

use rand::Rng;
use rand::rngs::StdRng;

const BASE36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A Keepit-style GUID: `groups` groups of six lowercase base-36 characters.
///
/// Two groups come from one 64-bit draw (36^12 < 2^64), which keeps generation fast.
pub(crate) fn guid(rng: &mut StdRng, groups: usize) -> String {
    let mut out = String::with_capacity(groups * 7);
    let mut bits = 0u64;
    for group in 0..groups {
        if group > 0 {
            out.push('-');
        }
        if group % 2 == 0 {
            bits = rng.random::<u64>();
        }
        for _ in 0..6 {
            out.push(char::from(BASE36[(bits % 36) as usize]));
            bits /= 36;
        }
    }
    out
}

/// 64 hex digits, like a snapshot `root`.
pub(crate) fn snapshot_root(rng: &mut StdRng) -> String {
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        out.push_str(&format!("{:016x}", rng.random::<u64>()));
    }
    out
}

/// An API-token login: 24 characters including the punctuation Keepit's generated
/// logins contain.
pub(crate) fn token_login(rng: &mut StdRng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789%+?(),#!$=";
    (0..24)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

const MSP_NAMES: &[&str] = &[
    "Harbor IT Partners",
    "Northgate Managed Services",
    "Bluewater Cloud Care",
    "Keystone IT Group",
];

const RESELLER_NAMES: &[&str] = &[
    "Fjord Cloud Resellers",
    "Meridian Channel",
    "Lighthouse Distribution",
    "Cobalt Partner Network",
    "Summit Channel Group",
    "Riverbend Resellers",
];

const STEMS: &[&str] = &[
    "Northwind",
    "Woodgrove",
    "Litware",
    "Fabrikam",
    "Contoso",
    "Tailspin",
    "Adatum",
    "Proseware",
    "Wingtip",
    "Alpine Ski",
    "Blue Yonder",
    "Coho",
    "Humongous",
    "Lucerne",
    "Margie's",
    "Trey",
    "Wide World",
    "Fourth Coffee",
    "Southridge",
    "Relecloud",
    "VanArsdel",
    "Bellows",
    "Munson's",
    "Nod",
    "Lamna",
    "Datum",
    "Woodland",
    "Kestrel",
    "Oakridge",
    "Silverline",
];

const TRADES: &[&str] = &[
    "Traders",
    "Clinic",
    "Labs",
    "Logistics",
    "Dental",
    "Law Group",
    "Engineering",
    "Bakery",
    "Architects",
    "Realty",
    "Motors",
    "Foods",
    "Pharmacy",
    "Studios",
    "Outfitters",
    "Veterinary",
    "Freight",
    "Builders",
    "Winery",
    "Insurance",
];

const LEGAL: &[&str] = &["Ltd", "A/S", "GmbH", "Inc.", "ApS", "LLC", "& Co", "AB", ""];

const FIRST_NAMES: &[&str] = &[
    "nadia", "rasmus", "lena", "omar", "ingrid", "yusuf", "freya", "mateo", "sofie", "kenji",
    "amara", "lukas", "priya", "jonas", "elena", "tobias", "maja", "david", "aisha", "henrik",
];

const LAST_NAMES: &[&str] = &[
    "holt", "park", "berg", "nielsen", "okafor", "tanaka", "silva", "fischer", "larsen", "kaur",
    "moreau", "novak", "jensen", "haddad", "meyer", "lund", "costa", "sato", "brandt", "quinn",
];

const COUNTRIES: &[&str] = &["DK", "SE", "NO", "DE", "GB", "NL", "US", "CA", "AU", "CH"];

/// A company: its display name and a host name under `.example` for its e-mails.
pub(crate) struct Company {
    pub(crate) name: String,
    pub(crate) short: String,
    pub(crate) domain: String,
}

fn domain_of(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The MSP's own company.
pub(crate) fn msp(rng: &mut StdRng) -> Company {
    let name = MSP_NAMES[rng.random_range(0..MSP_NAMES.len())];
    Company {
        name: name.to_owned(),
        short: name.to_owned(),
        domain: format!("{}.example", domain_of(name)),
    }
}

/// A reseller between the MSP and some customers; `index` keeps names distinct.
pub(crate) fn reseller(index: usize) -> Company {
    let base = RESELLER_NAMES[index % RESELLER_NAMES.len()];
    let name = if index < RESELLER_NAMES.len() {
        base.to_owned()
    } else {
        format!("{base} {}", index / RESELLER_NAMES.len() + 1)
    };
    Company {
        domain: format!("{}.example", domain_of(&name)),
        short: name.clone(),
        name,
    }
}

/// A customer company with a name no other account of the fleet has.
pub(crate) fn customer(rng: &mut StdRng, used: &mut HashSet<String>) -> Company {
    for _ in 0..64 {
        let stem = STEMS[rng.random_range(0..STEMS.len())];
        let trade = TRADES[rng.random_range(0..TRADES.len())];
        let legal = LEGAL[rng.random_range(0..LEGAL.len())];
        let short = format!("{stem} {trade}");
        let name = if legal.is_empty() {
            short.clone()
        } else {
            format!("{short} {legal}")
        };
        if used.insert(name.clone()) {
            return Company {
                domain: format!("{}.example", domain_of(&short)),
                short,
                name,
            };
        }
    }
    // A very large fleet runs out of combinations: number the names.
    let number = used.len() + 1;
    let short = format!("Customer {number}");
    used.insert(short.clone());
    Company {
        domain: format!("customer{number}.example"),
        name: short.clone(),
        short,
    }
}

/// A person at a company: (full name, e-mail).
pub(crate) fn person(rng: &mut StdRng, domain: &str) -> (String, String) {
    let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
    let full = format!("{} {}", capitalise(first), capitalise(last));
    (full, format!("{first}.{last}@{domain}"))
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A country code.
pub(crate) fn country(rng: &mut StdRng) -> String {
    COUNTRIES[rng.random_range(0..COUNTRIES.len())].to_owned()
}

/// A path inside a connector's data, for skipped-items messages; some contain commas.
pub(crate) fn item_path(rng: &mut StdRng, user: &str) -> String {
    let n = rng.random_range(100..10_000);
    match rng.random_range(0..6) {
        0 => format!("/Exchange/{user}/Inbox/Invoice-{n}.msg"),
        1 => format!("/SharePoint/Sales/Budget, draft v{}.xlsx", n % 9 + 1),
        2 => format!("/OneDrive/{user}/notes-{n}.txt"),
        3 => format!("/Teams/General/Files/Minutes {n}.docx"),
        4 => format!("/Drive/{user}/Shared/\"Q{}\" plan.pdf", n % 4 + 1),
        _ => format!("/Sites/Projects/Site {n}/Documents/spec.pdf"),
    }
}
