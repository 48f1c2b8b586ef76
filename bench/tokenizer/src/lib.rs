//! A small C ABI over the `tokenizers` crate, for measuring it against the Python package
//! (bench/tokenizer/run.sh). Ids only; the integration would return masks and type ids too.
use std::os::raw::c_char;
use std::ptr;
use tokenizers::Tokenizer;

pub struct Tok(Tokenizer);

fn set_err(err: *mut *mut c_char, msg: String) {
    if !err.is_null() {
        let c = std::ffi::CString::new(msg.replace('\0', " ")).unwrap();
        unsafe { *err = c.into_raw() };
    }
}

#[no_mangle]
pub extern "C" fn mfn_tok_load(json: *const u8, len: usize, err: *mut *mut c_char) -> *mut Tok {
    let bytes = unsafe { std::slice::from_raw_parts(json, len) };
    match Tokenizer::from_bytes(bytes) {
        Ok(t) => Box::into_raw(Box::new(Tok(t))),
        Err(e) => {
            set_err(err, e.to_string());
            ptr::null_mut()
        }
    }
}

#[no_mangle]
pub extern "C" fn mfn_tok_free(t: *mut Tok) {
    if !t.is_null() {
        unsafe { drop(Box::from_raw(t)) };
    }
}

#[no_mangle]
pub extern "C" fn mfn_str_free(s: *mut c_char) {
    if !s.is_null() {
        unsafe { drop(std::ffi::CString::from_raw(s)) };
    }
}

/// Encodes one UTF-8 text; writes up to `cap` ids into `ids` and returns the count (which may
/// exceed cap: call again with more room), or -1 with *err set.
#[no_mangle]
pub extern "C" fn mfn_tok_encode(t: *const Tok, text: *const u8, len: usize, add_special: bool,
                                 ids: *mut u32, cap: usize, err: *mut *mut c_char) -> i64 {
    let tok = unsafe { &(*t).0 };
    let bytes = unsafe { std::slice::from_raw_parts(text, len) };
    let s = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            set_err(err, e.to_string());
            return -1;
        }
    };
    match tok.encode(s, add_special) {
        Ok(enc) => {
            let got = enc.get_ids();
            let n = got.len().min(cap);
            unsafe { ptr::copy_nonoverlapping(got.as_ptr(), ids, n) };
            got.len() as i64
        }
        Err(e) => {
            set_err(err, e.to_string());
            -1
        }
    }
}
