#include "package/zip_writer.h"

#include <zlib.h>

#include <memory>
#include <vector>

#include "common/files.h"

namespace modelfn {
namespace {

void Put16(std::string* b, uint16_t v) {
  b->push_back(static_cast<char>(v & 0xFF));
  b->push_back(static_cast<char>(v >> 8));
}
void Put32(std::string* b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// 1980-01-01 00:00 in DOS format: archives are reproducible byte for byte.
constexpr uint16_t kDosTime = 0;
constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;

}  // namespace

ZipWriter::ZipWriter(const std::string& path) {
  f_ = fopen(path.c_str(), "wb");
  if (f_ == nullptr) status_ = UnavailableError("cannot create " + path);
}

ZipWriter::~ZipWriter() {
  if (f_) fclose(f_);
}

Status ZipWriter::Write(const void* p, size_t n) {
  if (fwrite(p, 1, n, f_) != n) return UnavailableError("write to the archive failed");
  offset_ += n;
  return Status::Ok();
}

Status ZipWriter::Add(const std::string& name, std::string_view data, uint32_t mode) {
  RETURN_IF_ERROR(status_);
  if (data.size() > 0xFFFFFFFFull || offset_ > 0xFFFFFFFFull)
    return ResourceExhaustedError("archive over 4 GiB");
  Entry e;
  e.name = name;
  e.mode = mode;
  e.size = static_cast<uint32_t>(data.size());
  e.crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
  e.offset = static_cast<uint32_t>(offset_);
  std::string deflated(compressBound(static_cast<uLong>(data.size())) + 64, '\0');
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(deflated.data());
  zs.avail_out = static_cast<uInt>(deflated.size());
  int rc = deflate(&zs, Z_FINISH);
  deflated.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return InternalError("deflate failed for " + name);
  if (deflated.size() >= data.size()) {  // incompressible: store
    e.method = 0;
    deflated.assign(data.data(), data.size());
  }
  e.compressed = static_cast<uint32_t>(deflated.size());
  RETURN_IF_ERROR(WriteLocalHeader(e));
  RETURN_IF_ERROR(Write(deflated.data(), deflated.size()));
  uncompressed_ += data.size();
  entries_.push_back(std::move(e));
  return Status::Ok();
}

Status ZipWriter::WriteLocalHeader(const Entry& e) {
  std::string h;
  Put32(&h, 0x04034b50);
  Put16(&h, 20);
  Put16(&h, 0);
  Put16(&h, e.method);
  Put16(&h, kDosTime);
  Put16(&h, kDosDate);
  Put32(&h, e.crc);
  Put32(&h, e.compressed);
  Put32(&h, e.size);
  Put16(&h, static_cast<uint16_t>(e.name.size()));
  Put16(&h, 0);
  h += e.name;
  return Write(h.data(), h.size());
}

Status ZipWriter::AddStoredFile(const std::string& name, const std::string& path, uint32_t mode) {
  RETURN_IF_ERROR(status_);
  FILE* in = fopen(path.c_str(), "rb");
  if (in == nullptr) return UnavailableError("cannot open " + path);
  std::unique_ptr<FILE, int (*)(FILE*)> closer(in, fclose);
  std::vector<char> buf(1 << 16);
  uLong crc = crc32(0, nullptr, 0);
  uint64_t size = 0;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), in)) > 0;) {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(n));
    size += n;
  }
  if (ferror(in)) return UnavailableError("cannot read " + path);
  if (size > 0xFFFFFFFFull || offset_ + size > 0xFFFFFFFFull)
    return ResourceExhaustedError("archive over 4 GiB");
  Entry e;
  e.name = name;
  e.mode = mode;
  e.method = 0;
  e.size = e.compressed = static_cast<uint32_t>(size);
  e.crc = static_cast<uint32_t>(crc);
  e.offset = static_cast<uint32_t>(offset_);
  RETURN_IF_ERROR(WriteLocalHeader(e));
  rewind(in);
  uint64_t copied = 0;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), in)) > 0;) {
    RETURN_IF_ERROR(Write(buf.data(), n));
    copied += n;
  }
  if (copied != size) return UnavailableError(path + " changed while it was archived");
  uncompressed_ += size;
  entries_.push_back(std::move(e));
  return Status::Ok();
}

Status ZipWriter::AddFile(const std::string& name, const std::string& path, uint32_t mode) {
  ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  return Add(name, data, mode);
}

StatusOr<uint64_t> ZipWriter::Finish() {
  RETURN_IF_ERROR(status_);
  uint64_t cd_start = offset_;
  for (const Entry& e : entries_) {
    std::string h;
    Put32(&h, 0x02014b50);
    Put16(&h, (3 << 8) | 20);  // made by Unix, spec 2.0
    Put16(&h, 20);
    Put16(&h, 0);
    Put16(&h, e.method);
    Put16(&h, kDosTime);
    Put16(&h, kDosDate);
    Put32(&h, e.crc);
    Put32(&h, e.compressed);
    Put32(&h, e.size);
    Put16(&h, static_cast<uint16_t>(e.name.size()));
    Put16(&h, 0);
    Put16(&h, 0);
    Put16(&h, 0);
    Put16(&h, 0);
    Put32(&h, (0100000u | e.mode) << 16);  // regular file with Unix permissions
    Put32(&h, e.offset);
    h += e.name;
    RETURN_IF_ERROR(Write(h.data(), h.size()));
  }
  std::string end;
  Put32(&end, 0x06054b50);
  Put16(&end, 0);
  Put16(&end, 0);
  Put16(&end, static_cast<uint16_t>(entries_.size()));
  Put16(&end, static_cast<uint16_t>(entries_.size()));
  Put32(&end, static_cast<uint32_t>(offset_ - cd_start));
  Put32(&end, static_cast<uint32_t>(cd_start));
  Put16(&end, 0);
  RETURN_IF_ERROR(Write(end.data(), end.size()));
  if (fclose(f_) != 0) {
    f_ = nullptr;
    return UnavailableError("closing the archive failed");
  }
  f_ = nullptr;
  return offset_;
}

}  // namespace modelfn
