//! The searches of the profile's five clinical resources, parsed the way `crate::search` parses
//! ITI-67 (an unknown parameter or modifier refused with a [`SearchError`] naming it, unless
//! `Prefer: handling=lenient`; a value Carnet cannot read refused either way), and matched
//! against items the gate already let through.
//!
//! Dates: `date` (and R4's `onset-date` of Condition, `effective` of MedicationStatement,
//! `onset` of AllergyIntolerance) match the item's `effective` instant — when it happened, as
//! the producer read it from the item's dates; an item without one matches no date criterion.
//! `recorded-date` (Condition) and AllergyIntolerance's `date` (R4: when it was recorded) match
//! `recorded_at`. Superseded items are never found (their source was replaced), items entered in
//! error only with `status=entered-in-error`. A trend is `Observation?patient=…&code=http://loinc.org|2339-0&_sort=date`.

use carnet_domain::profile::{ItemKind, ItemStatus, ProfileItem};
use carnet_domain::{Ins, InsKind};

use super::render::{item_resource, shown_status};
use super::systems as sys;
use crate::model::{Bundle, BundleLink};
use crate::render::{SearchEntry, SearchMode, bundle_searchset};
use crate::search::{DateParam, Handling, Page, SearchError, Token, Unsupported, common, name_of, patient, refuse, tokens};

/// A searchable resource of the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileResource {
    Condition,
    AllergyIntolerance,
    MedicationStatement,
    Immunization,
    Observation,
}

impl ProfileResource {
    pub const ALL: [ProfileResource; 5] = [
        ProfileResource::Condition,
        ProfileResource::AllergyIntolerance,
        ProfileResource::MedicationStatement,
        ProfileResource::Immunization,
        ProfileResource::Observation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProfileResource::Condition => "Condition",
            ProfileResource::AllergyIntolerance => "AllergyIntolerance",
            ProfileResource::MedicationStatement => "MedicationStatement",
            ProfileResource::Immunization => "Immunization",
            ProfileResource::Observation => "Observation",
        }
    }

    pub fn parse(name: &str) -> Option<ProfileResource> {
        ProfileResource::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The kinds of item this resource renders.
    pub fn kinds(self) -> &'static [ItemKind] {
        match self {
            ProfileResource::Condition => &[ItemKind::Condition],
            ProfileResource::AllergyIntolerance => &[ItemKind::Allergy],
            ProfileResource::MedicationStatement => &[ItemKind::Medication],
            ProfileResource::Immunization => &[ItemKind::Immunization],
            ProfileResource::Observation => &[ItemKind::Result, ItemKind::VitalSign, ItemKind::OrganDonation],
        }
    }

    /// The search parameters Carnet applies to this resource, with their FHIR types (what the
    /// CapabilityStatement declares; the parser accepts exactly these and the common ones).
    pub fn parameters(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ProfileResource::Condition => &[
                ("patient", "reference"),
                ("patient.identifier", "token"),
                ("subject", "reference"),
                ("code", "token"),
                ("onset-date", "date"),
                ("recorded-date", "date"),
                ("clinical-status", "token"),
            ],
            ProfileResource::AllergyIntolerance => &[
                ("patient", "reference"),
                ("patient.identifier", "token"),
                ("code", "token"),
                ("onset", "date"),
                ("date", "date"),
                ("clinical-status", "token"),
            ],
            ProfileResource::MedicationStatement => &[
                ("patient", "reference"),
                ("patient.identifier", "token"),
                ("subject", "reference"),
                ("code", "token"),
                ("effective", "date"),
                ("status", "token"),
            ],
            ProfileResource::Immunization => &[
                ("patient", "reference"),
                ("patient.identifier", "token"),
                ("vaccine-code", "token"),
                ("date", "date"),
                ("status", "token"),
            ],
            ProfileResource::Observation => &[
                ("patient", "reference"),
                ("patient.identifier", "token"),
                ("subject", "reference"),
                ("code", "token"),
                ("date", "date"),
                ("category", "token"),
                ("status", "token"),
            ],
        }
    }

    /// The code system of `clinical-status` (Condition, AllergyIntolerance).
    fn clinical_status_system(self) -> &'static str {
        match self {
            ProfileResource::AllergyIntolerance => sys::ALLERGY_CLINICAL,
            _ => sys::CONDITION_CLINICAL,
        }
    }
}

/// A parsed search of one profile resource. Each inner `Vec` is one parameter's alternatives
/// (OR); the parameters combine with AND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileQuery {
    pub resource: ProfileResource,
    pub patient: Ins,
    pub code: Vec<Vec<Token>>,
    /// Against the item's `effective` instant.
    pub date: Vec<DateParam>,
    /// Against when the item was recorded.
    pub recorded: Vec<DateParam>,
    pub clinical_status: Vec<Vec<Token>>,
    pub status: Vec<Vec<String>>,
    pub category: Vec<Vec<Token>>,
    pub page: Page,
    /// Oldest first (`_sort=date`: a trend); newest first by default and with `_sort=-date`.
    pub ascending: bool,
}

impl ProfileQuery {
    /// Strict parsing: every parameter must be one Carnet applies.
    pub fn parse(resource: ProfileResource, params: &[(String, String)]) -> Result<ProfileQuery, SearchError> {
        ProfileQuery::parse_with(resource, params, Handling::Strict).map(|(q, _)| q)
    }

    /// Parsing under `handling`; with the parameters ignored (none when strict).
    pub fn parse_with(
        resource: ProfileResource,
        params: &[(String, String)],
        handling: Handling,
    ) -> Result<(ProfileQuery, Vec<SearchError>), SearchError> {
        let mut unsupported = Unsupported::new(handling);
        let known = |name: &str| resource.parameters().iter().any(|(n, _)| *n == name);
        let (first_key, first_value) = params
            .iter()
            .find(|(k, _)| matches!(k.as_str(), "patient" | "patient.identifier" | "subject" | "subject.identifier") && known(k))
            .ok_or_else(|| refuse("patient", "required: patient or patient.identifier"))?;
        let canonical = |k: &str| if k.ends_with(".identifier") { "patient.identifier" } else { "patient" };
        let mut q = ProfileQuery {
            resource,
            patient: patient(canonical(first_key), first_value)?,
            code: vec![],
            date: vec![],
            recorded: vec![],
            clinical_status: vec![],
            status: vec![],
            category: vec![],
            page: Page::default(),
            ascending: false,
        };
        let mut sort = None;
        for (key, value) in params {
            if common(key, value, &mut q.page, &mut sort)? {
                continue;
            }
            let name = match name_of(key, &[]) {
                Ok(name) => name,
                Err(e) => {
                    unsupported.skip(e)?;
                    continue;
                }
            };
            if !known(name) {
                unsupported.skip(refuse(name, format!("not a search parameter of {} that Carnet supports", resource.name())))?;
                continue;
            }
            match name {
                "patient" | "patient.identifier" | "subject" => {
                    if patient(canonical(name), value)? != q.patient {
                        return Err(refuse(key, "names another patient: one patient per search"));
                    }
                }
                "code" | "vaccine-code" => q.code.push(tokens(key, value)?),
                "onset-date" | "effective" | "onset" => q.date.push(DateParam::parse(key, value)?),
                "date" if resource == ProfileResource::AllergyIntolerance => q.recorded.push(DateParam::parse(key, value)?),
                "date" => q.date.push(DateParam::parse(key, value)?),
                "recorded-date" => q.recorded.push(DateParam::parse(key, value)?),
                "clinical-status" => q.clinical_status.push(tokens(key, value)?),
                "category" => q.category.push(tokens(key, value)?),
                "status" => q.status.push(value.split(',').map(str::to_owned).collect()),
                other => unsupported.skip(refuse(other, format!("not a search parameter of {} that Carnet supports", resource.name())))?,
            }
        }
        q.ascending = sort.unwrap_or(false);
        Ok((q, unsupported.ignored))
    }

    /// Whether an item (already let through by the gate) matches every criterion.
    pub fn matches(&self, item: &ProfileItem) -> bool {
        let m = &item.meta;
        let c = &item.content;
        let any = |alternatives: &[Token], system: &str, code: &str| alternatives.iter().any(|t| t.matches(system, code));
        let status = shown_status(item);
        let category = match m.kind {
            ItemKind::VitalSign => "vital-signs",
            ItemKind::OrganDonation => "social-history",
            _ => "laboratory",
        };
        // A superseded item is history (its source was replaced and the new version brings its
        // own); one entered in error is found only by asking for that status.
        let standing = match m.status {
            ItemStatus::Current => true,
            ItemStatus::EnteredInError => self.status.iter().any(|alt| alt.iter().any(|s| s == "entered-in-error")),
            ItemStatus::Superseded => false,
        };
        standing
            && m.ins == self.patient
            && self.resource.kinds().contains(&m.kind)
            && self.code.iter().all(|alt| {
                c.code.as_ref().is_some_and(|code| {
                    code.code.as_deref().is_some_and(|k| any(alt, code.system.as_deref().unwrap_or(""), k))
                })
            })
            // An item without a date matches no date criterion, not even `ne`.
            && self.date.iter().all(|d| m.effective.is_some_and(|t| d.matches_instant(t)))
            && self.recorded.iter().all(|d| d.matches_instant(m.recorded_at))
            && self.clinical_status.iter().all(|alt| {
                let system = self.resource.clinical_status_system();
                status.is_some_and(|s| any(alt, system, s))
            })
            && self.status.iter().all(|alt| status.is_some_and(|s| alt.iter().any(|a| a == s)))
            && self.category.iter().all(|alt| any(alt, sys::OBSERVATION_CATEGORY, category))
    }

    /// The matching items, in the query's order (by `effective`, undated last, then by id).
    pub fn select<'a>(&self, items: impl IntoIterator<Item = &'a ProfileItem>) -> Vec<&'a ProfileItem> {
        let mut hits: Vec<&ProfileItem> = items.into_iter().filter(|i| self.matches(i)).collect();
        hits.sort_by(|a, b| {
            let by_date = match (a.meta.effective, b.meta.effective) {
                (Some(x), Some(y)) if self.ascending => x.cmp(&y),
                (Some(x), Some(y)) => y.cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            by_date.then_with(|| a.meta.id.cmp(&b.meta.id))
        });
        hits
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters kept).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A searchset of `hits` (what [`ProfileQuery::select`] returned): the page the query asks for,
/// `total` = every hit, and `self` / `next` / `previous` links built from the request's own
/// parameters (`params`) with Carnet's `_offset` cursor.
pub fn profile_searchset(
    query: &ProfileQuery,
    hits: &[&ProfileItem],
    params: &[(String, String)],
    ins_kind: InsKind,
    base_url: &str,
) -> Bundle {
    let base = base_url.trim_end_matches('/');
    let Page { count, offset } = query.page;
    let page: Vec<&&ProfileItem> = hits.iter().skip(offset).take(count).collect();
    let resource = query.resource.name();
    let link = |relation: &str, at: usize| {
        let kept = params.iter().filter(|(k, _)| k != "_offset").map(|(k, v)| format!("{}={}", encode(k), encode(v)));
        let parts: Vec<String> = kept.chain((at > 0).then(|| format!("_offset={at}"))).collect();
        BundleLink { relation: relation.into(), url: format!("{base}/{resource}?{}", parts.join("&")) }
    };
    let mut links = vec![link("self", offset)];
    if count > 0 && offset + count < hits.len() {
        links.push(link("next", offset + count));
    }
    if offset > 0 {
        links.push(link("previous", offset.saturating_sub(count.max(1))));
    }
    let entries = page
        .into_iter()
        .map(|item| SearchEntry {
            full_url: format!("{base}/{}/{}", super::resource_type(item.meta.kind), item.meta.id),
            resource: item_resource(item, ins_kind),
            mode: SearchMode::Match,
        })
        .collect();
    bundle_searchset(entries, Some(u64::try_from(hits.len()).unwrap_or(u64::MAX)), links)
}
