//! The C ABI of modelfn's text tokenizer over the `tokenizers` crate; tokenizer_abi.h is the
//! contract. No panic crosses this border: every entry point runs under catch_unwind and returns
//! a panic as MFN_TOK_INTERNAL with its message.
use std::any::Any;
use std::ffi::CString;
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use tokenizers::utils::padding::{pad_encodings, PaddingParams};
use tokenizers::Tokenizer;

pub const MFN_TOK_OK: i32 = 0;
pub const MFN_TOK_INVALID_TOKENIZER: i32 = 1;
pub const MFN_TOK_INVALID_UTF8: i32 = 2;
pub const MFN_TOK_ENCODE_FAILED: i32 = 3;
pub const MFN_TOK_BAD_ARGUMENT: i32 = 4;
pub const MFN_TOK_INTERNAL: i32 = 5;

pub struct MfnTokenizer {
    tok: Tokenizer,
    padding: PaddingParams,
}

pub struct MfnTokenBatch {
    rows: usize,
    cols: usize,
    ids: Vec<i64>,
    mask: Vec<i64>,
    type_ids: Vec<i64>,
}

type Failure = (i32, String);

fn set_err(err: *mut *mut c_char, msg: &str) {
    if err.is_null() {
        return;
    }
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    unsafe { *err = c.into_raw() };
}

fn panic_message(p: Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("tokenizer panicked: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("tokenizer panicked: {s}")
    } else {
        "tokenizer panicked".to_string()
    }
}

fn guarded<F: FnOnce() -> Result<(), Failure>>(err: *mut *mut c_char, f: F) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => MFN_TOK_OK,
        Ok(Err((code, msg))) => {
            set_err(err, &msg);
            code
        }
        Err(p) => {
            set_err(err, &panic_message(p));
            MFN_TOK_INTERNAL
        }
    }
}

unsafe fn bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p, len)
    }
}

/// See tokenizer_abi.h.
#[no_mangle]
pub unsafe extern "C" fn mfn_tok_load(
    json: *const u8,
    len: usize,
    max_length: usize,
    out: *mut *mut MfnTokenizer,
    err: *mut *mut c_char,
) -> i32 {
    guarded(err, || {
        if out.is_null() || (json.is_null() && len > 0) {
            return Err((MFN_TOK_BAD_ARGUMENT, "null argument".into()));
        }
        // The crate's own thread pool (rayon, as many threads as CPUs, made on first use) stays
        // off: a batch is encoded on the calling thread, beside ONNX Runtime's threads, with no
        // threads that live on in the instance.
        tokenizers::utils::parallelism::set_parallelism(false);
        let mut tok = Tokenizer::from_bytes(bytes(json, len))
            .map_err(|e| (MFN_TOK_INVALID_TOKENIZER, e.to_string()))?;
        if max_length > 0 {
            let mut t = tok.get_truncation().cloned().unwrap_or_default();
            t.max_length = max_length;
            tok.with_truncation(Some(t))
                .map_err(|e| (MFN_TOK_INVALID_TOKENIZER, e.to_string()))?;
        }
        // Padding as tokenizer.json says; without it, to the longest text of the batch with the
        // vocabulary's "[PAD]" (id 0 when it has none), as the Python package's enable_padding().
        let padding = match tok.get_padding() {
            Some(p) => p.clone(),
            None => {
                let mut p = PaddingParams::default();
                if let Some(id) = tok.token_to_id(&p.pad_token) {
                    p.pad_id = id;
                }
                p
            }
        };
        tok.with_padding(None);
        *out = Box::into_raw(Box::new(MfnTokenizer { tok, padding }));
        Ok(())
    })
}

/// See tokenizer_abi.h.
#[no_mangle]
pub unsafe extern "C" fn mfn_tok_free(t: *mut MfnTokenizer) {
    if !t.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(t))));
    }
}

/// See tokenizer_abi.h.
#[no_mangle]
pub unsafe extern "C" fn mfn_tok_string_free(s: *mut c_char) {
    if !s.is_null() {
        drop(CString::from_raw(s));
    }
}

/// See tokenizer_abi.h.
#[no_mangle]
pub unsafe extern "C" fn mfn_tok_encode_batch(
    t: *const MfnTokenizer,
    texts: *const *const u8,
    lens: *const usize,
    n: usize,
    out: *mut *mut MfnTokenBatch,
    err: *mut *mut c_char,
) -> i32 {
    guarded(err, || {
        if t.is_null() || out.is_null() || (n > 0 && (texts.is_null() || lens.is_null())) {
            return Err((MFN_TOK_BAD_ARGUMENT, "null argument".into()));
        }
        let t = &*t;
        let texts = std::slice::from_raw_parts(texts, n);
        let lens = std::slice::from_raw_parts(lens, n);
        let mut encodings = Vec::with_capacity(n);
        for i in 0..n {
            let s = std::str::from_utf8(bytes(texts[i], lens[i])).map_err(|e| {
                (MFN_TOK_INVALID_UTF8, format!("text {i} is not valid UTF-8: {e}"))
            })?;
            let enc = t
                .tok
                .encode(s, true)
                .map_err(|e| (MFN_TOK_ENCODE_FAILED, format!("text {i}: {e}")))?;
            encodings.push(enc);
        }
        pad_encodings(&mut encodings, &t.padding)
            .map_err(|e| (MFN_TOK_ENCODE_FAILED, e.to_string()))?;
        let cols = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut b = MfnTokenBatch {
            rows: n,
            cols,
            ids: Vec::with_capacity(n * cols),
            mask: Vec::with_capacity(n * cols),
            type_ids: Vec::with_capacity(n * cols),
        };
        for e in &encodings {
            if e.len() != cols {
                return Err((
                    MFN_TOK_ENCODE_FAILED,
                    "tokenizer.json's padding leaves texts of different lengths".into(),
                ));
            }
            b.ids.extend(e.get_ids().iter().map(|&v| v as i64));
            b.mask.extend(e.get_attention_mask().iter().map(|&v| v as i64));
            b.type_ids.extend(e.get_type_ids().iter().map(|&v| v as i64));
        }
        *out = Box::into_raw(Box::new(b));
        Ok(())
    })
}

/// See tokenizer_abi.h.
#[no_mangle]
pub unsafe extern "C" fn mfn_tok_batch_view(
    b: *const MfnTokenBatch,
    rows: *mut usize,
    cols: *mut usize,
    ids: *mut *const i64,
    attention_mask: *mut *const i64,
    type_ids: *mut *const i64,
) {
    if b.is_null() {
        return;
    }
    let b = &*b;
    let put = |p: *mut *const i64, v: &Vec<i64>| {
        if !p.is_null() {
            *p = if v.is_empty() { ptr::null() } else { v.as_ptr() };
        }
    };
    if !rows.is_null() {
        *rows = b.rows;
    }
    if !cols.is_null() {
        *cols = b.cols;
    }
    put(ids, &b.ids);
    put(attention_mask, &b.mask);
    put(type_ids, &b.type_ids);
}

/// See tokenizer_abi.h.
#[no_mangle]
pub unsafe extern "C" fn mfn_tok_batch_free(b: *mut MfnTokenBatch) {
    if !b.is_null() {
        drop(Box::from_raw(b));
    }
}
