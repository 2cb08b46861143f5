//! Rust events as C events, for the tests and benches that call the C functions.
#![allow(dead_code)]

use portcullis_engine::model::SignatureStatus;
use portcullis_engine::Event;
use portcullis_ffi::{
    PortcullisEvent, PortcullisStr, PORTCULLIS_SIGNATURE_INVALID, PORTCULLIS_SIGNATURE_UNSIGNED,
    PORTCULLIS_SIGNATURE_VALID,
};

/// An event and the text of its leaf signer's names, which the C event borrows.
pub struct CEvent {
    pub event: Event,
    pub subject: Option<String>,
    pub issuer: Option<String>,
}

fn borrow(text: Option<&str>) -> PortcullisStr {
    text.map_or(
        PortcullisStr {
            ptr: std::ptr::null(),
            len: 0,
        },
        |t| PortcullisStr {
            ptr: t.as_ptr().cast(),
            len: t.len(),
        },
    )
}

impl CEvent {
    pub fn new(event: Event) -> CEvent {
        let leaf = event.signature.signers.first();
        CEvent {
            subject: leaf.map(|s| s.subject.to_string()),
            issuer: leaf.and_then(|s| s.issuer.as_ref()).map(|i| i.to_string()),
            event,
        }
    }

    /// The C view; its strings point into `self`.
    pub fn c(&self) -> PortcullisEvent {
        let event = &self.event;
        let leaf = event.signature.signers.first();
        PortcullisEvent {
            computer: borrow(Some(&event.computer)),
            user: borrow(Some(&event.user)),
            path: borrow(Some(&event.path)),
            sha256: *event.sha256.as_bytes(),
            time: event.time.unix(),
            parent: borrow(event.parent.as_deref()),
            created_by: borrow(event.created_by.as_deref()),
            elevation: event.elevation,
            signature_status: match event.signature.status {
                SignatureStatus::Unsigned => PORTCULLIS_SIGNATURE_UNSIGNED,
                SignatureStatus::Valid => PORTCULLIS_SIGNATURE_VALID,
                SignatureStatus::Invalid => PORTCULLIS_SIGNATURE_INVALID,
            },
            signer_subject: borrow(self.subject.as_deref()),
            signer_issuer: borrow(self.issuer.as_deref()),
            has_signer_thumbprint: leaf.is_some_and(|s| s.thumbprint.is_some()),
            signer_thumbprint: leaf
                .and_then(|s| s.thumbprint)
                .map_or([0; 32], |t| *t.as_bytes()),
        }
    }
}
