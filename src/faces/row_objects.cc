#include "faces/row_objects.h"

#include <csv.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>

#include "common/json.h"
#include "package/zip_writer.h"

namespace modelfn {
namespace {

Status BadInput(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_request");
}
Status RowError(const std::string& why, const char* code = "invalid_request") {
  return Status(StatusCode::kInvalidArgument, why, code);
}

// A failed write to the scratch folder: a full disk is the object's size meeting the folder's
// (ResourceExhausted "scratch_full": recorded, not retried); anything else may pass.
Status WriteError(const std::string& what) {
  int e = errno;
  if (e == ENOSPC || e == EDQUOT)
    return Status(StatusCode::kResourceExhausted, what + ": " + strerror(e), "scratch_full");
  return UnavailableError(what + ": " + strerror(e));
}

bool EndsWith(const std::string& s, const char* suffix) {
  size_t n = strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

using File = std::unique_ptr<FILE, int (*)(FILE*)>;
StatusOr<File> OpenFile(const std::string& path, const char* mode) {
  FILE* f = fopen(path.c_str(), mode);
  if (f == nullptr)
    return UnavailableError("cannot open " + path + ": " + std::string(strerror(errno)));
  return File(f, fclose);
}

// A row's JSON nests at most this deep, so that the /v1/batch request it travels in (three
// levels more: {"items":[{"inputs":[ROW]}]}) stays within the function's 64: a deeper row fails
// alone instead of failing its whole chunk.
constexpr int kMaxRowDepth = 60;
Json::ParseOptions RowParseOptions() {
  Json::ParseOptions o;
  o.max_depth = kMaxRowDepth;
  return o;
}

std::string ItemOf(std::string_view row) {
  std::string body = "{\"inputs\":[";
  body.append(row);
  body += "]}";
  return body;
}

// Reads lines of at most `max` bytes from a file through a fixed buffer; longer lines are
// reported as such and skipped without being held.
class LineReader {
 public:
  LineReader(FILE* f, size_t max) : f_(f), max_(max), buf_(1 << 16) {}
  // False at the end of the file. *overlong: the line was longer than max (*line is empty).
  StatusOr<bool> Read(std::string* line, bool* overlong) {
    line->clear();
    *overlong = false;
    bool any = false;
    while (true) {
      if (pos_ == len_) {
        len_ = fread(buf_.data(), 1, buf_.size(), f_);
        pos_ = 0;
        if (len_ == 0) {
          if (ferror(f_)) return UnavailableError("reading the object failed");
          return any;
        }
      }
      any = true;
      const char* start = buf_.data() + pos_;
      const char* nl = static_cast<const char*>(memchr(start, '\n', len_ - pos_));
      size_t n = nl ? static_cast<size_t>(nl - start) : len_ - pos_;
      if (!*overlong) {
        if (line->size() + n > max_) {
          *overlong = true;
          std::string().swap(*line);
        } else {
          line->append(start, n);
        }
      }
      pos_ += n + (nl ? 1 : 0);
      if (nl) return true;
    }
  }

 private:
  FILE* f_;
  size_t max_;
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
};

class JsonlReader : public RowReader {
 public:
  JsonlReader(File f, size_t max_row)
      : f_(std::move(f)), lines_(f_.get(), max_row), max_(max_row) {}

  StatusOr<bool> Next(size_t max_rows, size_t max_bytes, std::vector<Row>* rows) override {
    size_t added = 0, bytes = 0;
    std::string line;
    while (added < max_rows && bytes < max_bytes) {
      bool overlong;
      ASSIGN_OR_RETURN(bool more, lines_.Read(&line, &overlong));
      if (!more) break;
      ++line_no_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!overlong && line.find_first_not_of(" \t") == std::string::npos) continue;
      Row row;
      row.index = next_++;
      std::string where = "line " + std::to_string(line_no_);
      if (overlong) {
        row.error =
            RowError(where + " is longer than " + std::to_string(max_) + " bytes", "row_too_large");
      } else if (auto doc = Json::Parse(line, RowParseOptions()); !doc.ok()) {
        row.error = RowError(where + " is not JSON: " + doc.status().message(), "invalid_json");
      } else if (doc->is_object() && doc->Find("inputs") != nullptr) {
        row.body = std::move(line);  // a request of its own (named inputs, parameters)
      } else {
        row.body = ItemOf(line);
      }
      bytes += row.body.size();
      rows->push_back(std::move(row));
      ++added;
    }
    return added > 0;
  }

 private:
  File f_;
  LineReader lines_;
  size_t max_;
  int64_t next_ = 0, line_no_ = 0;
};

// A CSV field as a JSON number, or nullopt.
std::optional<std::string> CsvNumber(std::string_view f) {
  if (f.empty()) return std::nullopt;
  const char* b = f.data();
  const char* e = f.data() + f.size();
  int64_t i;
  if (auto [p, ec] = std::from_chars(b, e, i); ec == std::errc() && p == e)
    return std::to_string(i);
  double d;
  if (auto [p, ec] = std::from_chars(b, e, d); ec == std::errc() && p == e && std::isfinite(d)) {
    std::string out;
    JsonWriter(&out).Double(d);
    return out;
  }
  return std::nullopt;
}

class CsvReader : public RowReader {
 public:
  CsvReader(File f, size_t max_row, CsvHeader header)
      : f_(std::move(f)), max_(max_row), header_(header), buf_(1 << 16) {
    csv_init(&parser_, 0);
  }
  ~CsvReader() override { csv_free(&parser_); }

  StatusOr<bool> Next(size_t max_rows, size_t max_bytes, std::vector<Row>* rows) override {
    size_t bytes = 0, added = 0;
    while (added < max_rows && bytes < max_bytes) {
      if (pending_.empty()) {
        if (done_) break;
        RETURN_IF_ERROR(Fill());
        continue;
      }
      bytes += pending_.front().body.size();
      rows->push_back(std::move(pending_.front()));
      pending_.pop_front();
      ++added;
    }
    return added > 0;
  }

 private:
  Status Fill() {
    size_t n = fread(buf_.data(), 1, buf_.size(), f_.get());
    if (n == 0) {
      if (ferror(f_.get())) return UnavailableError("reading the object failed");
      csv_fini(&parser_, &CsvReader::OnField, &CsvReader::OnRecord, this);
      done_ = true;
      return Status::Ok();
    }
    size_t skip = 0;
    if (first_block_) {  // a UTF-8 byte order mark (Excel's "CSV UTF-8") is not data
      first_block_ = false;
      if (n >= 3 && memcmp(buf_.data(), "\xEF\xBB\xBF", 3) == 0) skip = 3;
    }
    if (csv_parse(&parser_, buf_.data() + skip, n - skip, &CsvReader::OnField, &CsvReader::OnRecord,
                  this) != n - skip)
      return BadInput(std::string("the CSV cannot be read: ") + csv_strerror(csv_error(&parser_)));
    // A quoted field that never ends would otherwise grow libcsv's buffer without bound.
    if (csv_get_buffer_size(&parser_) > max_ + buf_.size())
      return Status(StatusCode::kInvalidArgument,
                    "a CSV field is longer than " + std::to_string(max_) +
                        " bytes (its record cannot be skipped alone: the field's end, a closing "
                        "quote, may be anywhere after it)",
                    "row_too_large");
    return Status::Ok();
  }

  static void OnField(void* s, size_t len, void* self) {
    auto* r = static_cast<CsvReader*>(self);
    if (r->record_bytes_ + len > r->max_) {
      r->overlong_ = true;
      r->fields_.clear();
    }
    r->record_bytes_ += len + 1;
    if (!r->overlong_) r->fields_.emplace_back(static_cast<const char*>(s), len);
    ++r->field_count_;
  }

  static void OnRecord(int, void* self) { static_cast<CsvReader*>(self)->EndRecord(); }

  void EndRecord() {
    ++record_no_;
    size_t count = field_count_;
    bool overlong = overlong_;
    std::vector<std::string> fields = std::move(fields_);
    fields_.clear();
    field_count_ = 0;
    record_bytes_ = 0;
    overlong_ = false;
    std::vector<std::optional<std::string>> numbers;
    for (const auto& f : fields) numbers.push_back(CsvNumber(f));
    bool all_numbers = true, no_numbers = true;
    for (const auto& n : numbers) {
      all_numbers &= n.has_value();
      no_numbers &= !n.has_value();
    }
    if (record_no_ == 1) {
      columns_ = count;
      // A header: said so, or (auto) a first record in which no field is a number. A first record
      // with some numbers is data: a bad field in it fails that row, visibly.
      if (header_ == CsvHeader::kPresent ||
          (header_ == CsvHeader::kAuto && !overlong && no_numbers && !fields.empty())) {
        return;
      }
    }
    Row row;
    row.index = next_++;
    std::string where = "record " + std::to_string(record_no_);
    if (overlong) {
      row.error =
          RowError(where + " is longer than " + std::to_string(max_) + " bytes", "row_too_large");
    } else if (count != columns_) {
      row.error = RowError(where + " has " + std::to_string(count) + " fields, the first record " +
                           std::to_string(columns_));
    } else if (all_numbers) {
      std::string arr = "[";
      for (size_t i = 0; i < numbers.size(); ++i) arr += (i ? "," : "") + *numbers[i];
      row.body = ItemOf(arr + "]");
    } else if (count == 1) {
      std::string s;
      JsonWriter(&s).String(fields[0]);
      row.body = ItemOf(s);
    } else {
      size_t bad = 0;
      while (numbers[bad]) ++bad;
      row.error = RowError(where + ": field " + std::to_string(bad + 1) + " is not a number");
    }
    pending_.push_back(std::move(row));
  }

  File f_;
  size_t max_;
  CsvHeader header_;
  bool first_block_ = true;
  std::vector<char> buf_;
  csv_parser parser_;
  std::deque<Row> pending_;
  std::vector<std::string> fields_;
  size_t field_count_ = 0, record_bytes_ = 0, columns_ = 0;
  bool overlong_ = false, done_ = false;
  int64_t record_no_ = 0, next_ = 0;
};

class NpyReader : public RowReader {
 public:
  NpyReader(File f, NpyHeader h, size_t max_row)
      : f_(std::move(f)), h_(std::move(h)), max_(max_row) {
    rows_ = h_.shape[0];
    row_elements_ = rows_ == 0 ? 0 : h_.elements / rows_;
    row_bytes_ = static_cast<size_t>(row_elements_) * h_.width;
  }

  StatusOr<bool> Next(size_t max_rows, size_t max_bytes, std::vector<Row>* rows) override {
    size_t added = 0, bytes = 0;
    std::string data;
    while (added < max_rows && bytes < max_bytes && next_ < rows_) {
      Row row;
      row.index = next_++;
      if (row_bytes_ > max_) {
        row.error =
            RowError("row " + std::to_string(row.index) + " holds " + std::to_string(row_bytes_) +
                         " bytes, over " + std::to_string(max_),
                     "row_too_large");
        if (fseeko(f_.get(), static_cast<off_t>(row_bytes_), SEEK_CUR) != 0)
          return UnavailableError("reading the object failed");
      } else {
        data.resize(row_bytes_);
        if (fread(data.data(), 1, row_bytes_, f_.get()) != row_bytes_)
          return DataLossError("the .npy ends before its row " + std::to_string(row.index));
        std::string json;
        size_t next = 0;
        bool finite = true;
        // The row's JSON is bounded too: nested dimensions of one add two bytes per element each.
        const size_t max_json = 4 * max_;
        std::function<void(size_t)> emit = [&](size_t dim) {
          if (json.size() > max_json) return;
          if (dim == h_.shape.size()) {
            finite &= AppendNpyValue(h_, data.data() + (next++) * h_.width, &json);
            return;
          }
          json += '[';
          for (int64_t i = 0; i < h_.shape[dim] && json.size() <= max_json; ++i) {
            if (i) json += ',';
            emit(dim + 1);
          }
          json += ']';
        };
        emit(1);
        if (json.size() > max_json || h_.shape.size() - 1 > static_cast<size_t>(kMaxRowDepth)) {
          row.error = RowError("row " + std::to_string(row.index) + " is over " +
                                   std::to_string(max_json) + " bytes as JSON (or nests deeper " +
                                   "than " + std::to_string(kMaxRowDepth) + ")",
                               "row_too_large");
        } else if (!finite) {
          row.error = RowError("row " + std::to_string(row.index) +
                               " holds NaN or an infinity, which a JSON request cannot carry");
        } else {
          row.body = ItemOf(json);
        }
      }
      bytes += row.body.size();
      rows->push_back(std::move(row));
      ++added;
    }
    return added > 0;
  }

 private:
  File f_;
  NpyHeader h_;
  size_t max_;
  int64_t rows_ = 0, row_elements_ = 0, next_ = 0;
  size_t row_bytes_ = 0;
};

// --- results -------------------------------------------------------------------------------

// A row's value of one output without the batch dimension of its single-row request.
const Json& Unwrapped(const Json& v) {
  return v.is_array() && v.AsArray().size() == 1 ? v.AsArray()[0] : v;
}

// Leaves of a value in order, with their column names.
void Flatten(const Json& v, const std::string& name, std::vector<std::string>* names,
             std::vector<const Json*>* leaves) {
  if (v.is_array()) {
    for (size_t i = 0; i < v.AsArray().size(); ++i)
      Flatten(v.AsArray()[i], name + "_" + std::to_string(i), names, leaves);
  } else if (v.is_object()) {
    for (const auto& [k, m] : v.AsObject()) Flatten(m, name + "_" + k, names, leaves);
  } else {
    if (names) names->push_back(name);
    leaves->push_back(&v);
  }
}

// Calls fn on each line of a results file, parsed.
Status ForEachResult(const std::string& path, const std::function<Status(const Json&)>& fn) {
  ASSIGN_OR_RETURN(File f, OpenFile(path, "rb"));
  LineReader lines(f.get(), SIZE_MAX);
  std::string line;
  Json::ParseOptions opts;
  opts.max_elements = SIZE_MAX;
  while (true) {
    bool overlong;
    ASSIGN_OR_RETURN(bool more, lines.Read(&line, &overlong));
    if (!more) return Status::Ok();
    auto doc = Json::Parse(line, opts);
    if (!doc.ok()) return InternalError("the results file is damaged: " + doc.status().message());
    RETURN_IF_ERROR(fn(*doc));
  }
}

Status CsvField(FILE* f, bool first, std::string_view text, bool quote) {
  if (!first && fputc(',', f) == EOF) return WriteError("write failed");
  if (quote) {
    if (csv_fwrite(f, text.data(), text.size()) != 0) return WriteError("write failed");
  } else if (fwrite(text.data(), 1, text.size(), f) != text.size()) {
    return WriteError("write failed");
  }
  return Status::Ok();
}

std::string LeafText(const Json& v, bool* quote) {
  *quote = v.is_string();
  if (v.is_string()) return v.AsString();
  if (v.is_null()) return "";
  return v.Dump();
}

StatusOr<std::string> WriteCsv(const std::string& results, const std::string& out) {
  std::vector<std::string> columns;
  bool found = false;
  RETURN_IF_ERROR(ForEachResult(results, [&](const Json& r) {
    const Json* o = r.Find("outputs");
    if (found || o == nullptr || !o->is_object()) return Status::Ok();
    std::vector<const Json*> leaves;
    for (const auto& [name, v] : o->AsObject()) Flatten(Unwrapped(v), name, &columns, &leaves);
    found = true;
    return Status::Ok();
  }));
  ASSIGN_OR_RETURN(File f, OpenFile(out, "wb"));
  RETURN_IF_ERROR(CsvField(f.get(), true, "row", false));
  for (const auto& c : columns) RETURN_IF_ERROR(CsvField(f.get(), false, c, true));
  RETURN_IF_ERROR(CsvField(f.get(), false, "error_code", false));
  RETURN_IF_ERROR(CsvField(f.get(), false, "error_detail", false));
  fputc('\n', f.get());
  auto write_row = [&](const Json& r) {
    const Json* row = r.Find("row");
    RETURN_IF_ERROR(CsvField(f.get(), true, row ? row->Dump() : "", false));
    std::vector<const Json*> leaves;
    if (const Json* o = r.Find("outputs"); o && o->is_object())
      for (const auto& [name, v] : o->AsObject()) Flatten(Unwrapped(v), name, nullptr, &leaves);
    std::string code, detail;
    if (const Json* e = r.Find("error")) {
      const Json* c = e->Find("code");
      const Json* d = e->Find("detail");
      code = c && c->is_string() ? c->AsString() : "";
      detail = d && d->is_string() ? d->AsString() : "";
      leaves.clear();
    } else if (leaves.size() != columns.size()) {
      code = "output_shape_changed";
      detail = "this row's outputs hold " + std::to_string(leaves.size()) + " values, the " +
               "first row's " + std::to_string(columns.size());
      leaves.clear();
    }
    for (size_t i = 0; i < columns.size(); ++i) {
      bool quote = false;
      std::string text = i < leaves.size() ? LeafText(*leaves[i], &quote) : "";
      RETURN_IF_ERROR(CsvField(f.get(), false, text, quote));
    }
    RETURN_IF_ERROR(CsvField(f.get(), false, code, false));
    RETURN_IF_ERROR(CsvField(f.get(), false, detail, true));
    if (fputc('\n', f.get()) == EOF) return WriteError("write failed");
    return Status::Ok();
  };
  RETURN_IF_ERROR(ForEachResult(results, write_row));
  if (fflush(f.get()) != 0 || ferror(f.get())) return WriteError("writing " + out + " failed");
  return out;
}

// --- .npz ------------------------------------------------------------------------------------

// UTF-8 to UTF-32 code points (the strings come from our JSON parser: valid UTF-8).
std::u32string Utf32(const std::string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    char32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (int k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    out.push_back(cp);
    i += static_cast<size_t>(n);
  }
  return out;
}

struct NpzArray {
  std::string name;
  std::vector<int64_t> dims;  // the element shape of one row
  bool any_string = false, any_double = false, all_bool = true;
  size_t max_chars = 1;
  std::string descr;
  size_t width = 8;
  std::string tmp;
  File f{nullptr, fclose};
};

void ShapeOf(const Json& v, std::vector<int64_t>* dims) {
  const Json* p = &v;
  while (p->is_array()) {
    dims->push_back(static_cast<int64_t>(p->AsArray().size()));
    if (p->AsArray().empty()) break;
    p = &p->AsArray()[0];
  }
}

std::string NpyHeaderText(const std::string& descr, int64_t rows,
                          const std::vector<int64_t>& dims) {
  std::string shape = "(" + std::to_string(rows) + (dims.empty() ? "," : "");
  for (int64_t d : dims) shape += ", " + std::to_string(d);
  shape += ")";
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string h("\x93NUMPY\x01\x00", 8);
  h.push_back(static_cast<char>(dict.size() & 0xFF));
  h.push_back(static_cast<char>(dict.size() >> 8));
  return h + dict;
}

template <typename T>
std::string Bytes(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(T));
}

Status WriteElement(NpzArray& a, const Json* v) {
  std::string text;
  const char kind = a.descr[1];
  const int width = a.descr[0] == '<' || a.descr[0] == '|' ? atoi(a.descr.c_str() + 2) : 8;
  if (kind == 'U') {
    std::u32string u;
    if (v != nullptr) u = Utf32(v->is_string() ? v->AsString() : v->Dump());
    u.resize(a.max_chars, U'\0');
    text.assign(reinterpret_cast<const char*>(u.data()), u.size() * 4);
  } else if (kind == 'b') {
    text = Bytes<uint8_t>(v != nullptr && v->is_bool() && v->AsBool());
  } else if (kind == 'f') {
    double d = v != nullptr && v->is_number() ? v->AsDouble() : 0;
    text = width == 4 ? Bytes(static_cast<float>(d)) : Bytes(d);
  } else {  // 'i' or 'u': the schema's integer type, every value integral (WriteNpz checked)
    int64_t i = v != nullptr && v->is_integral() ? v->AsInt64() : 0;
    switch (width) {
      case 1:
        text = kind == 'i' ? Bytes(static_cast<int8_t>(i)) : Bytes(static_cast<uint8_t>(i));
        break;
      case 2:
        text = kind == 'i' ? Bytes(static_cast<int16_t>(i)) : Bytes(static_cast<uint16_t>(i));
        break;
      case 4:
        text = kind == 'i' ? Bytes(static_cast<int32_t>(i)) : Bytes(static_cast<uint32_t>(i));
        break;
      default:
        text = kind == 'i' || !v || !v->is_integral() ? Bytes(i) : Bytes(v->AsUint64());
    }
  }
  if (fwrite(text.data(), 1, text.size(), a.f.get()) != text.size())
    return WriteError("write failed");
  return Status::Ok();
}

StatusOr<std::string> WriteNpz(const std::string& results, const std::string& out,
                               const std::map<std::string, std::string>& model_descr) {
  std::vector<NpzArray> arrays;
  int64_t rows = 0;
  bool found = false;
  RETURN_IF_ERROR(ForEachResult(results, [&](const Json& r) {
    ++rows;
    const Json* o = r.Find("outputs");
    if (o == nullptr || !o->is_object()) return Status::Ok();
    if (!found) {
      for (const auto& [name, v] : o->AsObject()) {
        NpzArray a;
        a.name = name;
        ShapeOf(Unwrapped(v), &a.dims);
        arrays.push_back(std::move(a));
      }
      found = true;
    }
    for (auto& a : arrays) {
      const Json* v = o->Find(a.name);
      if (v == nullptr) continue;
      std::vector<const Json*> leaves;
      Flatten(Unwrapped(*v), "", nullptr, &leaves);
      for (const Json* l : leaves) {
        if (l->is_string()) {
          a.any_string = true;
          a.max_chars = std::max(a.max_chars, Utf32(l->AsString()).size());
        } else if (!l->is_bool()) {
          a.all_bool = false;
          if (l->is_number() && !l->is_integral()) a.any_double = true;
          if (!l->is_number()) a.any_string = true;
        }
        if (a.any_string && !l->is_string())
          a.max_chars = std::max(a.max_chars, Utf32(l->Dump()).size());
      }
    }
    return Status::Ok();
  }));
  for (auto& a : arrays) {
    a.descr = a.any_string   ? "<U" + std::to_string(a.max_chars)
              : a.all_bool   ? "|b1"
              : a.any_double ? "<f8"
                             : "<i8";
    // The model's own type when its values fit it (a pipeline may have made something else of
    // an output: then its values decide, as above).
    if (auto it = model_descr.find(a.name); it != model_descr.end() && !a.any_string) {
      const std::string& m = it->second;
      if (m == "|b1" ? a.all_bool : m[1] == 'f' ? !a.all_bool : !a.all_bool && !a.any_double)
        a.descr = m;
    }
    a.tmp = out + "." + std::to_string(&a - arrays.data()) + ".npy";
    ASSIGN_OR_RETURN(a.f, OpenFile(a.tmp, "wb"));
    std::string h = NpyHeaderText(a.descr, rows, a.dims);
    fwrite(h.data(), 1, h.size(), a.f.get());
  }
  NpzArray ok;
  ok.name = "row_ok";
  ok.all_bool = true;
  ok.descr = "|b1";
  ok.tmp = out + ".ok.npy";
  ASSIGN_OR_RETURN(ok.f, OpenFile(ok.tmp, "wb"));
  std::string h = NpyHeaderText(ok.descr, rows, {});
  fwrite(h.data(), 1, h.size(), ok.f.get());
  static const Json kTrue = Json::Bool(true);
  auto write_row = [&](const Json& r) {
    const Json* o = r.Find("outputs");
    bool row_ok = o != nullptr && o->is_object();
    std::vector<std::vector<const Json*>> values(arrays.size());
    for (size_t i = 0; row_ok && i < arrays.size(); ++i) {
      const Json* v = o->Find(arrays[i].name);
      std::vector<int64_t> dims;
      if (v != nullptr) ShapeOf(Unwrapped(*v), &dims);
      if (v == nullptr || dims != arrays[i].dims) {
        row_ok = false;  // an answer of another shape cannot stand in this array
        break;
      }
      Flatten(Unwrapped(*v), "", nullptr, &values[i]);
    }
    for (size_t i = 0; i < arrays.size(); ++i) {
      int64_t n = 1;
      for (int64_t d : arrays[i].dims) n *= d;
      for (int64_t k = 0; k < n; ++k) {
        const Json* leaf = row_ok && static_cast<size_t>(k) < values[i].size()
                               ? values[i][static_cast<size_t>(k)]
                               : nullptr;
        RETURN_IF_ERROR(WriteElement(arrays[i], leaf));
      }
    }
    return WriteElement(ok, row_ok ? &kTrue : nullptr);
  };
  RETURN_IF_ERROR(ForEachResult(results, write_row));
  ZipWriter zip(out);
  RETURN_IF_ERROR(zip.status());
  arrays.push_back(std::move(ok));
  Status status;
  for (auto& a : arrays) {
    if (fflush(a.f.get()) != 0 || ferror(a.f.get())) status = WriteError("write failed");
    a.f.reset();
    if (status.ok()) status = zip.AddStoredFile(a.name + ".npy", a.tmp, 0644);
    unlink(a.tmp.c_str());
  }
  RETURN_IF_ERROR(status);
  RETURN_IF_ERROR(zip.Finish().status());
  return out;
}

}  // namespace

std::optional<RowFormat> RowFormatOf(const std::string& key) {
  if (EndsWith(key, ".jsonl")) return RowFormat::kJsonl;
  if (EndsWith(key, ".csv")) return RowFormat::kCsv;
  if (EndsWith(key, ".npy")) return RowFormat::kNpy;
  return std::nullopt;
}

const char* ResultExtension(RowFormat format) {
  switch (format) {
    case RowFormat::kJsonl:
      return ".jsonl";
    case RowFormat::kCsv:
      return ".csv";
    case RowFormat::kNpy:
      return ".npz";
  }
  return ".jsonl";
}

const char* ResultContentType(RowFormat format) {
  switch (format) {
    case RowFormat::kJsonl:
      return "application/jsonl";
    case RowFormat::kCsv:
      return "text/csv";
    case RowFormat::kNpy:
      return "application/zip";
  }
  return "application/octet-stream";
}

namespace {

// The header's Python dict literal, strictly: {'descr': STR, 'fortran_order': BOOL, 'shape':
// (INT, ...)} with each key once and no other, as numpy writes it (single or double quotes,
// spaces anywhere, a trailing comma allowed).
class NpyDictParser {
 public:
  explicit NpyDictParser(std::string_view t) : t_(t) {}

  Status Parse(std::string* descr, bool* fortran, std::vector<int64_t>* shape) {
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    Space();
    if (!Eat('{')) return BadInput(".npy header is not a dict");
    while (true) {
      Space();
      if (Eat('}')) break;
      std::string key;
      RETURN_IF_ERROR(String(&key));
      Space();
      if (!Eat(':')) return BadInput(".npy header: ':' expected after '" + key + "'");
      Space();
      if (key == "descr" && !seen_descr) {
        seen_descr = true;
        RETURN_IF_ERROR(String(descr));
      } else if (key == "fortran_order" && !seen_fortran) {
        seen_fortran = true;
        if (Word("True")) {
          *fortran = true;
        } else if (Word("False")) {
          *fortran = false;
        } else {
          return BadInput(".npy header: fortran_order is not True or False");
        }
      } else if (key == "shape" && !seen_shape) {
        seen_shape = true;
        RETURN_IF_ERROR(Tuple(shape));
      } else {
        return BadInput(".npy header: unexpected or repeated key '" + key + "'");
      }
      Space();
      if (Eat(',')) continue;
      Space();
      if (Eat('}')) break;
      return BadInput(".npy header: ',' or '}' expected");
    }
    Space();
    if (pos_ != t_.size()) return BadInput(".npy header: text after the dict");
    if (!seen_descr || !seen_fortran || !seen_shape)
      return BadInput(".npy header lacks descr, fortran_order or shape");
    return Status::Ok();
  }

 private:
  void Space() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\n')) ++pos_;
  }
  bool Eat(char c) {
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Word(std::string_view w) {
    if (t_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  Status String(std::string* out) {
    if (pos_ >= t_.size() || (t_[pos_] != '\'' && t_[pos_] != '"'))
      return BadInput(".npy header: a quoted string expected");
    char q = t_[pos_++];
    size_t end = t_.find(q, pos_);
    if (end == std::string_view::npos) return BadInput(".npy header: an unterminated string");
    *out = std::string(t_.substr(pos_, end - pos_));
    if (out->find('\\') != std::string::npos) return BadInput(".npy header: escapes in a string");
    pos_ = end + 1;
    return Status::Ok();
  }
  Status Tuple(std::vector<int64_t>* shape) {
    constexpr size_t kMaxDims = 32;
    if (!Eat('(')) return BadInput(".npy header: shape is not a tuple");
    while (true) {
      Space();
      if (Eat(')')) return Status::Ok();
      if (pos_ >= t_.size() || !isdigit(static_cast<unsigned char>(t_[pos_])))
        return BadInput(".npy header: a shape holds non-negative integers only");
      int64_t d = 0;
      while (pos_ < t_.size() && isdigit(static_cast<unsigned char>(t_[pos_]))) {
        if (__builtin_mul_overflow(d, 10, &d) || __builtin_add_overflow(d, t_[pos_] - '0', &d))
          return BadInput(".npy shape has a dimension too large");
        ++pos_;
      }
      shape->push_back(d);
      if (shape->size() > kMaxDims) return BadInput(".npy shape has too many dimensions");
      Space();
      if (Eat(',')) continue;
      Space();
      if (Eat(')')) return Status::Ok();
      return BadInput(".npy header: ',' or ')' expected in the shape");
    }
  }

  std::string_view t_;
  size_t pos_ = 0;
};

}  // namespace

StatusOr<NpyHeader> ParseNpyHeader(const std::string& data, uint64_t file_size) {
  if (data.size() < 10 || data.compare(0, 6, "\x93NUMPY") != 0) return BadInput("not a .npy file");
  const int major = static_cast<uint8_t>(data[6]);
  if (major < 1 || major > 3 || data[7] != 0)
    return BadInput(".npy format version " + std::to_string(major) + " is not 1, 2 or 3");
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<uint8_t>(data[8]) | (static_cast<uint8_t>(data[9]) << 8);
    offset = 10;
  } else {
    if (data.size() < 12) return BadInput("truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<size_t>(static_cast<uint8_t>(data[8 + i])) << (8 * i);
    offset = 12;
  }
  if (data.size() < offset + header_len) return BadInput("truncated .npy header");
  std::string descr;
  bool fortran = false;
  NpyHeader h;
  RETURN_IF_ERROR(NpyDictParser(std::string_view(data).substr(offset, header_len))
                      .Parse(&descr, &fortran, &h.shape));
  bool known = false;
  for (auto [d, kind, w] : {std::tuple{"<f4", 'f', 4}, std::tuple{"<f8", 'f', 8},
                            std::tuple{"<i4", 'i', 4}, std::tuple{"<i8", 'i', 8}}) {
    if (descr == d) {
      h.kind = kind;
      h.width = static_cast<size_t>(w);
      known = true;
    }
  }
  if (!known) return BadInput(".npy dtype must be little-endian float32/float64/int32/int64");
  if (fortran) return BadInput(".npy must be in C order");
  // Every partial product and the data size are checked for overflow, and no partial product
  // may exceed the element count: a zero beside huge dimensions would otherwise make billions of
  // empty rows out of a few bytes of input.
  for (int64_t d : h.shape) {
    if (__builtin_mul_overflow(h.elements, d, &h.elements))
      return BadInput(".npy shape is too large");
  }
  int64_t partial = 1;
  for (size_t i = 0; i + 1 < h.shape.size(); ++i) {
    partial *= h.shape[i];  // cannot overflow: bounded by the check below before the next step
    if (partial > std::max<int64_t>(h.elements, 1)) return BadInput(".npy shape holds no data");
  }
  h.data_offset = offset + header_len;
  uint64_t want;
  if (__builtin_mul_overflow(static_cast<uint64_t>(h.elements), h.width, &want) ||
      file_size < h.data_offset || file_size - h.data_offset != want)
    return BadInput(".npy data does not match its shape");
  return h;
}

bool AppendNpyValue(const NpyHeader& h, const char* p, std::string* out) {
  JsonWriter w(out);
  if (h.kind == 'f' && h.width == 4) {
    float v;
    memcpy(&v, p, 4);
    if (!std::isfinite(v)) {
      *out += '0';
      return false;
    }
    w.Float(v);
  } else if (h.kind == 'f') {
    double v;
    memcpy(&v, p, 8);
    if (!std::isfinite(v)) {
      *out += '0';
      return false;
    }
    w.Double(v);
  } else if (h.width == 4) {
    int32_t v;
    memcpy(&v, p, 4);
    w.Int(v);
  } else {
    int64_t v;
    memcpy(&v, p, 8);
    w.Int(v);
  }
  return true;
}

StatusOr<std::unique_ptr<RowReader>> OpenRowReader(RowFormat format, const std::string& path,
                                                   size_t max_row_bytes, CsvHeader csv_header) {
  ASSIGN_OR_RETURN(File f, OpenFile(path, "rb"));
  switch (format) {
    case RowFormat::kJsonl:
      return std::unique_ptr<RowReader>(new JsonlReader(std::move(f), max_row_bytes));
    case RowFormat::kCsv:
      return std::unique_ptr<RowReader>(new CsvReader(std::move(f), max_row_bytes, csv_header));
    case RowFormat::kNpy: {
      if (fseeko(f.get(), 0, SEEK_END) != 0) return UnavailableError("cannot read " + path);
      uint64_t size = static_cast<uint64_t>(ftello(f.get()));
      rewind(f.get());
      std::string head(std::min<uint64_t>(size, 12 + (1 << 20)), '\0');
      head.resize(fread(head.data(), 1, head.size(), f.get()));
      ASSIGN_OR_RETURN(NpyHeader h, ParseNpyHeader(head, size));
      if (h.shape.empty()) return BadInput("a .npy of rows needs at least one dimension");
      if (fseeko(f.get(), static_cast<off_t>(h.data_offset), SEEK_SET) != 0)
        return UnavailableError("cannot read " + path);
      return std::unique_ptr<RowReader>(new NpyReader(std::move(f), std::move(h), max_row_bytes));
    }
  }
  return BadInput("unknown row format");
}

ResultsFile::ResultsFile(const std::string& path) {
  f_ = fopen(path.c_str(), "wb");
  if (f_ == nullptr) status_ = UnavailableError("cannot create " + path + ": " + strerror(errno));
}

ResultsFile::~ResultsFile() {
  if (f_) fclose(f_);
}

Status ResultsFile::Append(const std::string& line) {
  RETURN_IF_ERROR(status_);
  if (fwrite(line.data(), 1, line.size(), f_) != line.size() || fputc('\n', f_) == EOF)
    status_ = WriteError("writing the results failed");
  return status_;
}

Status ResultsFile::AddOutputs(int64_t row, const Json& outputs) {
  std::string line;
  JsonWriter w(&line);
  w.BeginObject().Key("row").Int(row).Key("outputs").BeginObject();
  if (outputs.is_object())
    for (const auto& [name, v] : outputs.AsObject()) w.Key(name).Value(Unwrapped(v));
  w.EndObject().EndObject();
  return Append(line);
}

Status ResultsFile::AddError(int64_t row, const std::string& code, const std::string& detail) {
  std::string line;
  JsonWriter w(&line);
  w.BeginObject().Key("row").Int(row).Key("error").BeginObject();
  w.Key("code").String(code).Key("detail").String(detail).EndObject().EndObject();
  return Append(line);
}

Status ResultsFile::Close() {
  RETURN_IF_ERROR(status_);
  int rc = fclose(f_);
  f_ = nullptr;
  if (rc != 0) status_ = WriteError("writing the results failed");
  return status_;
}

StatusOr<std::string> WriteOutput(RowFormat format, const std::string& results_path,
                                  const std::string& out_path,
                                  const std::map<std::string, std::string>& model_descr) {
  switch (format) {
    case RowFormat::kJsonl:
      return results_path;
    case RowFormat::kCsv:
      return WriteCsv(results_path, out_path);
    case RowFormat::kNpy:
      return WriteNpz(results_path, out_path, model_descr);
  }
  return results_path;
}

}  // namespace modelfn
