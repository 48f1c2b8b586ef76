// Pieces of modelfn.yaml's parsing shared by its files (config.cc, config_triggers.cc); not an
// interface of the module (platform/config.h is).
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "platform/config.h"

namespace modelfn::config_internal {

inline Status FieldError(const std::string& path, const std::string& what) {
  return InvalidArgumentError(path + ": " + what);
}

// Reads optional members of one YAML object, refusing unknown keys.
class Fields {
 public:
  Fields(const Json* obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  Status CheckObject() const {
    if (obj_ != nullptr && !obj_->is_object() && !obj_->is_null()) {
      return FieldError(path_, "expected a mapping");
    }
    return Status::Ok();
  }
  // Unknown keys are mistakes (a misspelt max_instances must not silently mean the default).
  Status CheckKnown(std::initializer_list<const char*> known) const {
    if (obj_ == nullptr || !obj_->is_object()) return Status::Ok();
    for (const auto& [k, v] : obj_->AsObject()) {
      bool ok = false;
      for (const char* n : known) ok = ok || k == n;
      if (!ok) return FieldError(path_ + "." + k, "unknown setting");
    }
    return Status::Ok();
  }
  const Json* Get(const char* key) const {
    return obj_ != nullptr && obj_->is_object() ? obj_->Find(key) : nullptr;
  }
  std::string Path(const char* key) const { return path_ + "." + key; }

  Status String(const char* key, std::string* out) const {
    const Json* v = Get(key);
    if (v == nullptr || v->is_null()) return Status::Ok();
    if (v->is_string()) {
      *out = v->AsString();
    } else if (v->is_number() || v->is_bool()) {
      *out = v->Dump();
    } else {
      return FieldError(Path(key), "expected a string");
    }
    return Status::Ok();
  }
  Status Number(const char* key, double lo, double hi, double* out) const {
    const Json* v = Get(key);
    if (v == nullptr || v->is_null()) return Status::Ok();
    if (!v->is_number() || !std::isfinite(v->AsDouble()) || v->AsDouble() < lo ||
        v->AsDouble() > hi) {
      return FieldError(Path(key), "expected a number in [" + Json::Double(lo).Dump() + ", " +
                                       Json::Double(hi).Dump() + "]");
    }
    *out = v->AsDouble();
    return Status::Ok();
  }
  Status Int(const char* key, int64_t lo, int64_t hi, int64_t* out) const {
    const Json* v = Get(key);
    if (v == nullptr || v->is_null()) return Status::Ok();
    if (!v->is_integral() || !v->fits_int64() || v->AsInt64() < lo || v->AsInt64() > hi) {
      return FieldError(Path(key), "expected an integer in [" + std::to_string(lo) + ", " +
                                       std::to_string(hi) + "]");
    }
    *out = v->AsInt64();
    return Status::Ok();
  }
  Status Int(const char* key, int lo, int hi, int* out) const {
    int64_t v = *out;
    RETURN_IF_ERROR(Int(key, int64_t{lo}, int64_t{hi}, &v));
    *out = static_cast<int>(v);
    return Status::Ok();
  }
  Status Bool(const char* key, bool* out) const {
    const Json* v = Get(key);
    if (v == nullptr || v->is_null()) return Status::Ok();
    if (!v->is_bool()) return FieldError(Path(key), "expected true or false");
    *out = v->AsBool();
    return Status::Ok();
  }
  Status StringList(const char* key, std::vector<std::string>* out) const {
    const Json* v = Get(key);
    if (v == nullptr || v->is_null()) return Status::Ok();
    if (v->is_string()) {
      out->push_back(v->AsString());
      return Status::Ok();
    }
    if (!v->is_array()) return FieldError(Path(key), "expected a list of strings");
    for (const Json& e : v->AsArray()) {
      if (!e.is_string()) return FieldError(Path(key), "expected a list of strings");
      out->push_back(e.AsString());
    }
    return Status::Ok();
  }

 private:
  const Json* obj_;
  std::string path_;
};

// `triggers:` of modelfn.yaml into c->triggers, setting each trigger function's prefixes in its
// env (config_triggers.cc). The functions are parsed already.
Status ParseTriggers(const Json* t, const std::string& base_dir, PlatformConfig* c);

}  // namespace modelfn::config_internal
