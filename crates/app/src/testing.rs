//! Test support (feature `testing`): a software passkey authenticator, so tests can register
//! passkeys and log in with them without a browser or a security key.
//!
//! [`SoftAuthenticator`] plays the browser and the authenticator together. It reads the options
//! the server sends (webauthn-rs's JSON, as `app.js` receives them) and answers with the JSON
//! `app.js` posts back:
//!
//! - `create`: a new P-256 key pair (ring), `clientDataJSON` (`webauthn.create`, the challenge,
//!   the origin), `authenticatorData` (SHA-256 of the RP id, flags UP|UV|AT, a signature counter,
//!   the attested credential data: a zero AAGUID, the credential id and the public key as a COSE
//!   EC2 key) in a `"none"` attestation object (CBOR).
//! - `get`: `authenticatorData` (flags UP|UV, the counter, one higher each time) and an ECDSA
//!   signature (ASN.1 DER, as WebAuthn wants) over `authenticatorData ‖ SHA-256(clientDataJSON)`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;

/// Why the authenticator (or the browser) said no, as the browser's `DOMException` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `create()`: the authenticator already holds one of the excluded credentials.
    InvalidState,
    /// `get()`: none of the allowed credentials is on this authenticator.
    NotAllowed,
}

struct Credential {
    id: Vec<u8>,
    rp_id: String,
    user_handle: Vec<u8>,
    key: EcdsaKeyPair,
    counter: u32,
}

/// A software authenticator in a browser at `origin`.
pub struct SoftAuthenticator {
    origin: String,
    rng: SystemRandom,
    credentials: Vec<Credential>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(v: &Value, what: &str) -> Vec<u8> {
    let s = v.as_str().unwrap_or_else(|| panic!("soft authenticator: {what} is not a string: {v}"));
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("soft authenticator: {what} is not base64url: {e}"))
}

fn text<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("soft authenticator: no {what} in the options"))
}

fn ids(list: &Value) -> Vec<Vec<u8>> {
    list.as_array()
        .map(|a| a.iter().map(|c| unb64(&c["id"], "a credential id")).collect())
        .unwrap_or_default()
}

fn cbor(v: &Cbor) -> Vec<u8> {
    serde_cbor_2::to_vec(v).unwrap_or_else(|e| panic!("soft authenticator: CBOR: {e}"))
}

impl SoftAuthenticator {
    /// An authenticator with no credentials, in a browser showing `origin`
    /// (`https://care.example.jp`).
    pub fn new(origin: &str) -> Self {
        Self { origin: origin.to_string(), rng: SystemRandom::new(), credentials: Vec::new() }
    }

    /// The same authenticator seen from another site (a phishing page, say).
    pub fn set_origin(&mut self, origin: &str) {
        self.origin = origin.to_string();
    }

    /// The ids (base64url) of the credentials it holds, oldest first.
    pub fn credential_ids(&self) -> Vec<String> {
        self.credentials.iter().map(|c| b64(&c.id)).collect()
    }

    /// `navigator.credentials.create()`, given the registration options `{"publicKey": …}`.
    pub fn create(&mut self, options: &Value) -> Result<Value, Refusal> {
        let pk = &options["publicKey"];
        let rp_id = text(&pk["rp"]["id"], "rp.id").to_string();
        let challenge = text(&pk["challenge"], "challenge");
        let user_handle = unb64(&pk["user"]["id"], "user.id");
        let excluded = ids(&pk["excludeCredentials"]);
        if self.credentials.iter().any(|c| c.rp_id == rp_id && excluded.contains(&c.id)) {
            return Err(Refusal::InvalidState);
        }
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.rng)
            .unwrap_or_else(|e| panic!("soft authenticator: key generation: {e}"));
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &self.rng)
            .unwrap_or_else(|e| panic!("soft authenticator: key: {e}"));
        let mut id = vec![0u8; 32];
        self.rng.fill(&mut id).unwrap_or_else(|e| panic!("soft authenticator: random: {e}"));

        // The public key, uncompressed (0x04 ‖ x ‖ y), as a COSE EC2 key: kty 2 (EC2),
        // alg -7 (ES256), crv 1 (P-256), x, y.
        let point = key.public_key().as_ref();
        let cose = Cbor::Map(BTreeMap::from([
            (Cbor::Integer(1), Cbor::Integer(2)),
            (Cbor::Integer(3), Cbor::Integer(-7)),
            (Cbor::Integer(-1), Cbor::Integer(1)),
            (Cbor::Integer(-2), Cbor::Bytes(point[1..33].to_vec())),
            (Cbor::Integer(-3), Cbor::Bytes(point[33..65].to_vec())),
        ]));
        let counter = 0u32;
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(FLAG_UP | FLAG_UV | FLAG_AT);
        auth_data.extend_from_slice(&counter.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        auth_data.extend_from_slice(&u16::try_from(id.len()).unwrap_or(u16::MAX).to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend_from_slice(&cbor(&cose));
        let attestation = Cbor::Map(BTreeMap::from([
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));
        let client_data =
            json!({ "type": "webauthn.create", "challenge": challenge, "origin": self.origin, "crossOrigin": false })
                .to_string();
        let answer = json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&cbor(&attestation)),
                "clientDataJSON": b64(client_data.as_bytes()),
                "transports": ["internal"],
            },
            "extensions": {},
        });
        self.credentials.push(Credential { id, rp_id, user_handle, key, counter });
        Ok(answer)
    }

    /// `navigator.credentials.get()`, given the login options `{"publicKey": …}`: answers with
    /// the first held credential the options allow.
    pub fn get(&mut self, options: &Value) -> Result<Value, Refusal> {
        let pk = &options["publicKey"];
        let rp_id = text(&pk["rpId"], "rpId");
        let allowed = ids(&pk["allowCredentials"]);
        let i = self
            .credentials
            .iter()
            .position(|c| c.rp_id == rp_id && allowed.contains(&c.id))
            .ok_or(Refusal::NotAllowed)?;
        Ok(self.assert(i, options))
    }

    /// Like `get`, but signs with the held credential `credential_id` (base64url) whatever the
    /// options allow: a tampered client trying a credential on another person's challenge.
    pub fn get_with(&mut self, options: &Value, credential_id: &str) -> Value {
        let i = self
            .credentials
            .iter()
            .position(|c| b64(&c.id) == credential_id)
            .unwrap_or_else(|| panic!("soft authenticator: no credential {credential_id}"));
        self.assert(i, options)
    }

    fn assert(&mut self, i: usize, options: &Value) -> Value {
        let challenge = text(&options["publicKey"]["challenge"], "challenge").to_string();
        let origin = self.origin.clone();
        let c = &mut self.credentials[i];
        c.counter += 1;
        let mut auth_data = Sha256::digest(c.rp_id.as_bytes()).to_vec();
        auth_data.push(FLAG_UP | FLAG_UV);
        auth_data.extend_from_slice(&c.counter.to_be_bytes());
        let client_data =
            json!({ "type": "webauthn.get", "challenge": challenge, "origin": origin, "crossOrigin": false })
                .to_string();
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(client_data.as_bytes()));
        let signature =
            c.key.sign(&self.rng, &signed).unwrap_or_else(|e| panic!("soft authenticator: signing: {e}"));
        json!({
            "id": b64(&c.id),
            "rawId": b64(&c.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(client_data.as_bytes()),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&c.user_handle),
            },
            "extensions": {},
        })
    }

    /// Sets a credential's signature counter back (a cloned authenticator would show this).
    pub fn rewind_counter(&mut self, credential_id: &str, to: u32) {
        if let Some(c) = self.credentials.iter_mut().find(|c| b64(&c.id) == credential_id) {
            c.counter = to;
        }
    }
}

/// Flips one bit in the middle of a base64url field of an answer (`"signature"`,
/// `"authenticatorData"`…, under `response`), as a forger or a bad copy would.
pub fn corrupt(answer: &mut Value, field: &str) {
    let mut bytes = unb64(&answer["response"][field], field);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    answer["response"][field] = Value::String(b64(&bytes));
}
