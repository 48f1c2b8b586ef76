#include "store/s3_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/sha256.h"
#include "store/cloud_http.h"
#include "store/xml.h"

namespace modelfn {
S3Store::S3Store(S3Config config, AwsCredentials credentials, std::unique_ptr<HttpClient> http,
                 const Clock* clock)
    : config_(std::move(config)),
      credentials_(std::move(credentials)),
      http_(std::move(http)),
      clock_(clock) {
  if (!config_.endpoint.empty()) {
    std::string ep = config_.endpoint;
    while (!ep.empty() && ep.back() == '/') ep.pop_back();
    size_t scheme = ep.find("://");
    std::string host = scheme == std::string::npos ? ep : ep.substr(scheme + 3);
    std::string proto = scheme == std::string::npos ? "https" : ep.substr(0, scheme);
    if (config_.path_style) {
      host_ = host;
    } else {
      host_ = config_.bucket + "." + host;
    }
    scheme_host_ = proto + "://" + host_;
  } else if (config_.path_style || config_.bucket.find('.') != std::string::npos) {
    config_.path_style = true;
    host_ = "s3." + config_.region + ".amazonaws.com";
    scheme_host_ = "https://" + host_;
  } else {
    host_ = config_.bucket + ".s3." + config_.region + ".amazonaws.com";
    scheme_host_ = "https://" + host_;
  }
}

StatusOr<std::unique_ptr<S3Store>> S3Store::FromEnvironment(const std::string& bucket,
                                                            const std::string& prefix,
                                                            const EnvFn& env, const Clock* clock) {
  S3Config c;
  c.bucket = bucket;
  c.prefix = prefix;
  c.region = ResolveAwsRegion(env);
  for (const char* name : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
    if (auto v = env(name); v && !v->empty()) {
      c.endpoint = *v;
      c.path_style = true;
      break;
    }
  }
  if (auto ps = env("MODELFN_S3_PATH_STYLE"); ps && *ps == "1") c.path_style = true;
  auto http = MakeCurlHttpClient();
  ASSIGN_OR_RETURN(AwsCredentials creds, ResolveAwsCredentials(env, *http, *clock));
  return std::make_unique<S3Store>(std::move(c), std::move(creds), std::move(http), clock);
}

std::string S3Store::Describe() const {
  return "s3://" + config_.bucket + (config_.prefix.empty() ? "" : "/" + config_.prefix);
}

std::string S3Store::FullKey(const std::string& key) const {
  return config_.prefix.empty() ? key : config_.prefix + "/" + key;
}

Status S3Store::ErrorFor(const Request& r, const HttpReply& reply) const {
  std::string code, message;
  if (auto doc = ParseXml(reply.body); doc.ok()) {  // else a bare status (HEAD has no body)
    code = doc->ChildText("Code");
    message = doc->ChildText("Message");
  }
  std::string what = r.method + " " + (r.bucket_level ? Describe() : Describe() + "/" + r.key) +
                     ": HTTP " + std::to_string(reply.status) + (code.empty() ? "" : " " + code) +
                     (message.empty() ? "" : " (" + message + ")");
  if (reply.status == 404) return NotFoundError(what);
  if (reply.status == 412 || (reply.status == 409 && code == "ConditionalRequestConflict")) {
    return PreconditionFailed(what);
  }
  if (reply.status == 403 || reply.status == 401) {
    if (code == "RequestTimeTooSkewed") {
      return StoreAuthError(what +
                            ": this machine's clock is off by more than S3 allows; fix the clock");
    }
    return StoreAuthError(what + ": check the credentials and their permissions");
  }
  if (reply.status >= 500 || reply.status == 429) return UnavailableError(what);
  return InvalidArgumentError(what);
}

StatusOr<HttpReply> S3Store::Call(const Request& r) {
  std::string path = "/";
  if (config_.path_style) path += UriEncode(config_.bucket, false) + (r.bucket_level ? "" : "/");
  if (!r.bucket_level) path += UriEncode(FullKey(r.key), true);
  if (config_.path_style && r.bucket_level && path.back() != '/') path += "/";
  SigV4Input in;
  in.method = r.method;
  in.host = host_;
  in.canonical_path = path;
  in.query = r.query;
  in.headers = r.headers;
  in.payload_sha256 = r.body_file.empty() ? Sha256Hex(r.body) : "UNSIGNED-PAYLOAD";
  std::string query = CanonicalQuery(r.query);
  HttpCall call;
  call.method = r.method;
  call.url = scheme_host_ + path + (query.empty() ? "" : "?" + query);
  call.body = r.body;
  call.body_file = r.body_file;
  call.body_offset = r.body_offset;
  call.body_length = r.body_length;
  call.response_file = r.response_file;
  call.progress = r.progress;
  int attempts = r.retry ? 4 : 1;
  return RetryTransient(attempts, [&]() -> StatusOr<HttpReply> {
    call.headers = SignV4(in, credentials_, config_.region, "s3", clock_->WallNanos());
    ASSIGN_OR_RETURN(HttpReply reply, http_->Send(call));
    if (reply.status >= 200 && reply.status < 300) return reply;
    return ErrorFor(r, reply);
  });
}

StatusOr<std::string> S3Store::Get(const std::string& key) {
  Request r;
  r.key = key;
  ASSIGN_OR_RETURN(HttpReply reply, Call(r));
  return std::move(reply.body);
}

StatusOr<ObjectInfo> S3Store::GetToFile(const std::string& key, const std::string& path,
                                        const ProgressFn& progress) {
  Request r;
  r.key = key;
  r.response_file = path;
  r.progress = progress;
  ASSIGN_OR_RETURN(HttpReply reply, Call(r));
  ObjectInfo info{key, reply.body_bytes, reply.HeaderOr("etag")};
  return info;
}

StatusOr<ObjectInfo> S3Store::Head(const std::string& key) {
  Request r;
  r.method = "HEAD";
  r.key = key;
  ASSIGN_OR_RETURN(HttpReply reply, Call(r));
  ObjectInfo info{key, 0, reply.HeaderOr("etag")};
  if (const std::string* len = reply.Header("content-length"))
    info.size = strtoull(len->c_str(), nullptr, 10);
  return info;
}

StatusOr<ObjectInfo> S3Store::Put(const std::string& key, std::string_view data,
                                  const PutOptions& options) {
  Request r;
  r.method = "PUT";
  r.key = key;
  r.body = data;
  r.headers.emplace_back("Content-Type", options.content_type);
  AddConditionalHeaders(options, &r.headers);
  r.progress = options.progress;
  ASSIGN_OR_RETURN(HttpReply reply, Call(r));
  return ObjectInfo{key, data.size(), reply.HeaderOr("etag")};
}

StatusOr<ObjectInfo> S3Store::PutFile(const std::string& key, const std::string& path,
                                      const PutOptions& options) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return NotFoundError("no such file: " + path);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > config_.multipart_threshold) return PutMultipart(key, path, size, options);
  Request r;
  r.method = "PUT";
  r.key = key;
  r.body_file = path;
  r.body_length = size;
  r.headers.emplace_back("Content-Type", options.content_type);
  r.headers.emplace_back("Content-Length", std::to_string(size));
  AddConditionalHeaders(options, &r.headers);
  r.progress = options.progress;
  ASSIGN_OR_RETURN(HttpReply reply, Call(r));
  return ObjectInfo{key, size, reply.HeaderOr("etag")};
}

StatusOr<ObjectInfo> S3Store::PutMultipart(const std::string& key, const std::string& path,
                                           uint64_t size, const PutOptions& options) {
  Request create;
  create.method = "POST";
  create.key = key;
  create.query = {{"uploads", ""}};
  create.headers.emplace_back("Content-Type", options.content_type);
  ASSIGN_OR_RETURN(HttpReply created, Call(create));
  auto created_doc = ParseXml(created.body);
  std::string upload_id = created_doc.ok() ? created_doc->ChildText("UploadId") : "";
  if (upload_id.empty())
    return UnavailableError("CreateMultipartUpload for " + key + " returned no UploadId");
  auto abort = [&](Status s) {
    Request del;
    del.method = "DELETE";
    del.key = key;
    del.query = {{"uploadId", upload_id}};
    (void)Call(del);
    return s;
  };
  std::string complete = "<CompleteMultipartUpload>";
  uint64_t done = 0;
  for (int part = 1; done < size; ++part) {
    uint64_t len = std::min(config_.part_size, size - done);
    Request up;
    up.method = "PUT";
    up.key = key;
    up.query = {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}};
    up.body_file = path;
    up.body_offset = done;
    up.body_length = len;
    up.headers.emplace_back("Content-Length", std::to_string(len));
    uint64_t base = done;
    if (options.progress)
      up.progress = [&](uint64_t d, uint64_t) { options.progress(base + d, size); };
    auto reply = Call(up);
    if (!reply.ok()) return abort(reply.status().WithContext("part " + std::to_string(part)));
    const std::string* etag = reply->Header("etag");
    if (etag == nullptr) return abort(UnavailableError("UploadPart returned no ETag"));
    complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" + *etag +
                "</ETag></Part>";
    done += len;
  }
  complete += "</CompleteMultipartUpload>";
  Request fin;
  fin.method = "POST";
  fin.key = key;
  fin.query = {{"uploadId", upload_id}};
  fin.body = complete;
  fin.headers.emplace_back("Content-Type", "application/xml");
  AddConditionalHeaders(options, &fin.headers);
  auto reply = Call(fin);
  if (!reply.ok()) return abort(reply.status());
  // S3 can answer 200 with an error document for CompleteMultipartUpload.
  auto result = ParseXml(reply->body);
  if (result.ok() && result->name == "Error") {
    std::string code = result->ChildText("Code");
    Status s = code == "PreconditionFailed" ? PreconditionFailed(key + ": " + code)
                                            : UnavailableError("CompleteMultipartUpload: " + code);
    return abort(s);
  }
  return ObjectInfo{key, size, result.ok() ? result->ChildText("ETag") : ""};
}

StatusOr<std::vector<ObjectInfo>> S3Store::List(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  std::string token;
  std::string full_prefix = FullKey(prefix);
  if (config_.prefix.empty()) full_prefix = prefix;
  size_t strip = config_.prefix.empty() ? 0 : config_.prefix.size() + 1;
  while (true) {
    Request r;
    r.bucket_level = true;
    r.query = {{"list-type", "2"}, {"prefix", full_prefix}};
    if (!token.empty()) r.query.emplace_back("continuation-token", token);
    ASSIGN_OR_RETURN(HttpReply reply, Call(r));
    auto doc = ParseXml(reply.body);
    if (!doc.ok()) {
      return UnavailableError("the listing of " + Describe() + " is not XML S3 sends (" +
                              doc.status().message() + ")");
    }
    for (const XmlElement* contents : doc->Children("Contents")) {
      const XmlElement* key = contents->Child("Key");
      if (!key || key->text.size() < strip) continue;
      ObjectInfo info;
      info.key = key->text.substr(strip);
      info.size = strtoull(contents->ChildText("Size").c_str(), nullptr, 10);
      info.etag = contents->ChildText("ETag");
      out.push_back(std::move(info));
    }
    if (doc->ChildText("IsTruncated") != "true") break;
    token = doc->ChildText("NextContinuationToken");
    if (token.empty()) break;
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Status S3Store::Delete(const std::string& key) {
  Request r;
  r.method = "DELETE";
  r.key = key;
  auto reply = Call(r);
  if (!reply.ok() && reply.status().code() != StatusCode::kNotFound) return reply.status();
  return Status::Ok();
}

}  // namespace modelfn
