// The tabular input objects of batch inference (.jsonl, .csv, .npy), read and answered a chunk of
// rows at a time so that an object of any size is scored in bounded memory: the object is on
// local disk (ObjectStore::GetToFile streams it there), rows are read from the file, and each
// row's answer or error is appended to a results file, converted at the end to the output format
// of the input's family (JSON lines, CSV, NumPy .npz).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace modelfn {

enum class RowFormat { kJsonl, kCsv, kNpy };

// The format of a key by its extension (case-sensitive, as the other inputs): nullopt when the
// key is not a rows object.
std::optional<RowFormat> RowFormatOf(const std::string& key);
// The extension of the results of `format`: ".jsonl", ".csv", ".npz".
const char* ResultExtension(RowFormat format);
const char* ResultContentType(RowFormat format);

// One row of an object: the /v1/batch item that infers it, or why it cannot be read.
struct Row {
  int64_t index = 0;  // 0-based among the object's data rows (a CSV header is not one)
  std::string body;   // {"inputs":[<row>]} (a JSON line that is itself {"inputs": ...}: as is)
  Status error;       // the row is unreadable (bad JSON, a CSV field that is not a number...)
};

class RowReader {
 public:
  virtual ~RowReader() = default;
  // Appends the next rows to *rows, stopping after `max_rows` rows or once their bodies pass
  // `max_bytes`. Returns false when the object has no more rows (nothing appended then). An error
  // is about the object as a whole (a read failed, a .npy shorter than its header says); rows
  // appended before it stay valid.
  virtual StatusOr<bool> Next(size_t max_rows, size_t max_bytes, std::vector<Row>* rows) = 0;
};

// A .npy file's header (format 1.0/2.0/3.0): magic, version, header length, a Python dict.
struct NpyHeader {
  char kind = 'f';   // 'f' float, 'i' signed integer
  size_t width = 4;  // bytes per element: 4 or 8
  std::vector<int64_t> shape;
  int64_t elements = 1;  // the product of shape
  size_t data_offset = 0;
};
// Parses the header at the start of `head` (at least the first 12 bytes; the whole header when
// it fits) of a file of `file_size` bytes, checking every dimension and the data size for
// overflow and that the data is exactly what the shape needs. InvalidArgument
// ("invalid_request") naming what is wrong.
StatusOr<NpyHeader> ParseNpyHeader(const std::string& head, uint64_t file_size);
// Appends the element at `p` as JSON; false (and 0 appended) for NaN or an infinity.
bool AppendNpyValue(const NpyHeader& h, const char* p, std::string* out);

// Whether a CSV's first record is a header: kAuto decides by the record (a header when none of
// its fields is a number).
enum class CsvHeader { kAuto, kPresent, kAbsent };

// Opens `path` (the object's bytes) as rows of `format`. A row longer than `max_row_bytes`
// (a JSON line, a CSV record, a .npy row's data; 4x that as JSON) is an unreadable row
// ("row_too_large"), skipped without being held in memory; a JSON row nesting deeper than 60 is
// one too. Errors: the file cannot be opened; a .npy header that is not one (reason
// "invalid_request"); a CSV field over `max_row_bytes` ("row_too_large": a field's end may be
// anywhere after it, so its record cannot be skipped alone).
// .jsonl: one row per non-blank line. .csv (RFC 4180, read by libcsv; a UTF-8 byte order mark
// is skipped): the header as `csv_header` says; fields are numbers (a row is an array of them),
// or a record of one field that is not a number is a string (a text model's row); a record
// whose field count differs from the first record's is unreadable. .npy (format 1-3, the header
// parsed strictly): rows along the first dimension (little-endian float32/float64/int32/int64,
// C order); a row holding NaN or an infinity is unreadable (JSON cannot carry it).
StatusOr<std::unique_ptr<RowReader>> OpenRowReader(RowFormat format, const std::string& path,
                                                   size_t max_row_bytes,
                                                   CsvHeader csv_header = CsvHeader::kAuto);

// Appends results, one JSON line per row in row order: {"row":i,"outputs":{name: value}} or
// {"row":i,"error":{"code","detail"}}. This is the .jsonl output itself, and what the CSV and
// .npz outputs are made from.
class ResultsFile {
 public:
  // Creates or truncates `path`. Check status() before use.
  explicit ResultsFile(const std::string& path);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;
  const Status& status() const { return status_; }

  // `outputs`: the /v1/batch item's "outputs" object; an output whose value is an array of one
  // element (the single row's batch dimension) is written as that element.
  Status AddOutputs(int64_t row, const Json& outputs);
  Status AddError(int64_t row, const std::string& code, const std::string& detail);
  // Flushes and closes the file.
  Status Close();

 private:
  Status Append(const std::string& line);
  FILE* f_ = nullptr;
  Status status_;
};

// Writes the output of `format` at `out_path` from a ResultsFile at `results_path`, reading it
// as a stream (twice for CSV and .npz: the columns and shapes, then the values):
// - .jsonl: the results file itself (the caller uploads it, no copy is made; out_path unused).
// - .csv: a header `row,<output columns>,error_code,error_detail`, where an output that holds an
//   array for a row has a column per element (`probabilities_0`...), then a record per row.
// - .npz: one array per output (rows first, the element shape of the first answered row), of
//   the model's type from `model_descr` (output name -> numpy descr, "<f4", "<i8", "|b1"...)
//   when the values fit it, else int64 when every value is an integer, float64 when not, bool,
//   or a unicode string; and `row_ok` (bool) false for the rows that failed (their values are
//   zero or empty).
// Returns the path to upload.
StatusOr<std::string> WriteOutput(RowFormat format, const std::string& results_path,
                                  const std::string& out_path,
                                  const std::map<std::string, std::string>& model_descr = {});

}  // namespace modelfn
