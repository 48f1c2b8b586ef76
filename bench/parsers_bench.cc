// Measures the parsers that read untrusted input, old against new, in one run, and prints a
// Markdown report (docs/benchmarks.md keeps it):
//   - JSON parse: the former hand-written parser (bench/legacy_json.cc) against simdjson building
//     the same DOM (common/json), on examples/*/requests/*.json, a 1 MB request, an object of
//     80,000 keys and the 6 MB object body that held a core for minutes;
//   - JSON write: common/json's JsonWriter against nlohmann::json's dump;
//   - JSON string escaping (a request body as the gateway puts it into a Lambda event, and prose):
//     AppendJsonString against nlohmann::json's dump of the same string (--strings-only: this
//     section alone);
//   - SHA-256 of a 23 MB buffer (OpenSSL EVP, one shot and streamed from a file);
//   - base64 decoding: ours against OpenSSL's EVP_DecodeBlock and EVP_DecodeUpdate.
// Usage: parsers_bench [source dir] [--legacy-limit-s N] [--strings-only] (the old parser gets N
// seconds per input, 60 by default, in a child process, and is reported as "> N s" past that).
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "common/base64.h"
#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"
#include "legacy_json.h"

namespace modelfn {
namespace {

using Clock = std::chrono::steady_clock;

// Median microseconds per call over repeated batches lasting at least `budget_s` in total.
double MedianMicros(const std::function<void()>& fn, double budget_s = 0.3) {
  fn();  // warm up
  auto t0 = Clock::now();
  fn();
  double one = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  int per_batch = std::max(1, static_cast<int>(2000.0 / std::max(one, 0.01)));
  std::vector<double> samples;
  auto start = Clock::now();
  while (samples.size() < 5 ||
         std::chrono::duration<double>(Clock::now() - start).count() < budget_s) {
    auto b0 = Clock::now();
    for (int i = 0; i < per_batch; ++i) fn();
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - b0).count() /
                      per_batch);
    if (samples.size() >= 200) break;
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// Microseconds of one call in a child process, or a negative value when it ran past limit_s.
double OnceInChild(const std::function<void()>& fn, int limit_s) {
  int fds[2];
  if (pipe(fds) != 0) return -2;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(limit_s));
    auto t0 = Clock::now();
    fn();
    double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    ssize_t w = write(fds[1], &us, sizeof us);
    _exit(w == sizeof us ? 0 : 1);
  }
  close(fds[1]);
  double us = -1;
  ssize_t r = read(fds[0], &us, sizeof us);
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return r == sizeof us ? us : -1;
}

std::string Fmt(double us) {
  char b[64];
  if (us >= 1e6) {
    snprintf(b, sizeof b, "%.2f s", us / 1e6);
  } else if (us >= 1e3) {
    snprintf(b, sizeof b, "%.2f ms", us / 1e3);
  } else {
    snprintf(b, sizeof b, "%.2f us", us);
  }
  return b;
}

std::string ObjectOfKeys(size_t n) {
  std::string t = "{";
  for (size_t i = 0; i < n; ++i) {
    if (i) t += ',';
    t += "\"key" + std::to_string(i) + "\":" + std::to_string(i % 10);
  }
  return t + "}";
}

// A request of one row of random FP32 values, about `bytes` long.
std::string RowRequest(size_t bytes) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-1, 1);
  std::string t = "{\"inputs\":[[";
  std::string out;
  bool first = true;
  while (t.size() < bytes - 16) {
    if (!first) t += ',';
    first = false;
    out.clear();
    JsonWriter(&out).Float(d(rng));
    t += out;
  }
  return t + "]]}";
}

std::string OneMegabyteRequest() { return RowRequest(1 << 20); }

void JsonParseSection(const std::string& root, int legacy_limit_s) {
  printf("### JSON parse: former hand-written parser vs simdjson into the same DOM\n\n");
  printf("| input | bytes | old | new | old / new |\n| --- | --- | --- | --- | --- |\n");
  struct Input {
    std::string name, text;
    bool slow;  // the old parser may take minutes: once, in a child process, under a time limit
  };
  std::vector<Input> inputs;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(root + "/examples")) {
    std::string dir = e.path().string() + "/requests";
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& f : std::filesystem::directory_iterator(dir)) {
      if (f.path().extension() == ".json") files.push_back(f.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto text = ReadFile(f);
    if (!text.ok()) continue;
    inputs.push_back({f.substr(root.size() + 1), *text, false});
  }
  inputs.push_back({"1 MB request (one row of FP32)", OneMegabyteRequest(), false});
  inputs.push_back({"object of 80,000 keys", ObjectOfKeys(80000), true});
  std::string big;
  size_t keys = 0;
  while (big.size() < 6u << 20) big = ObjectOfKeys(keys += 50000);
  inputs.push_back({"6 MB object (" + std::to_string(keys) + " keys)", big, true});
  for (const auto& in : inputs) {
    if (!Json::Parse(in.text).ok() || (!in.slow && !LegacyParseJson(in.text).ok())) {
      printf("| %s | parse failed |\n", in.name.c_str());
      continue;
    }
    double fresh = MedianMicros([&] { (void)Json::Parse(in.text); });
    double old = in.slow ? OnceInChild([&] { (void)LegacyParseJson(in.text); }, legacy_limit_s)
                         : MedianMicros([&] { (void)LegacyParseJson(in.text); });
    std::string old_s = old < 0 ? "> " + std::to_string(legacy_limit_s) + " s (stopped)" : Fmt(old);
    char ratio[64];
    if (old < 0) {
      snprintf(ratio, sizeof ratio, "> %.0fx", legacy_limit_s * 1e6 / fresh);
    } else {
      snprintf(ratio, sizeof ratio, "%.2fx", old / fresh);
    }
    printf("| %s | %zu | %s | %s | %s |\n", in.name.c_str(), in.text.size(), old_s.c_str(),
           Fmt(fresh).c_str(), ratio);
  }
  // A refused text costs a second walk that locates the fault (simdjson On Demand).
  std::string broken = inputs.back().text;
  broken.back() = ',';
  double refused = MedianMicros([&] { (void)Json::Parse(broken); });
  printf("\nThe same 6 MB text with its last byte broken (refused, offset located): %s.\n\n",
         Fmt(refused).c_str());
}

// What the gateway's check of a request it merges into a held batch costs: Validate walks
// simdjson's document for Parse's limits without building the DOM.
void JsonValidateSection() {
  printf("### JSON check without the DOM: Json::Parse vs Json::Validate\n\n");
  printf(
      "| input | bytes | Parse | Validate | Parse / Validate |\n| --- | --- | --- | --- | --- |\n");
  struct Input {
    std::string name, text;
  };
  const Input inputs[] = {
      {"one row of 1,024 FP32 (the medium MLP's request)", RowRequest(10500)},
      {"one row of 64 KB", RowRequest(64 << 10)},
      {"1 MB request (one row of FP32)", OneMegabyteRequest()},
      {"object of 80,000 keys", ObjectOfKeys(80000)},
  };
  for (const auto& in : inputs) {
    if (!Json::Parse(in.text).ok() || !Json::Validate(in.text, Json::ParseOptions()).ok()) {
      printf("| %s | parse failed |\n", in.name.c_str());
      continue;
    }
    double parse = MedianMicros([&] { (void)Json::Parse(in.text); });
    double check = MedianMicros([&] { (void)Json::Validate(in.text, Json::ParseOptions()); });
    printf("| %s | %zu | %s | %s | %.2fx |\n", in.name.c_str(), in.text.size(), Fmt(parse).c_str(),
           Fmt(check).c_str(), parse / check);
  }
  printf("\n");
}

void JsonWriteSection() {
  printf("### JSON write: JsonWriter vs nlohmann::json\n\n");
  printf("| output | bytes | JsonWriter | nlohmann build + dump | nlohmann dump only | ratio |\n");
  printf("| --- | --- | --- | --- | --- | --- |\n");
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-1, 1);
  for (size_t n : {size_t{10}, size_t{131072}}) {
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    auto ours = [&](std::string* out) {
      JsonWriter w(out);
      w.BeginObject().Key("model_name").String("digits").Key("outputs").BeginArray();
      w.BeginObject().Key("name").String("probabilities").Key("datatype").String("FP32");
      w.Key("shape").BeginArray().Int(1).Int(static_cast<int64_t>(n)).EndArray();
      w.Key("data").BeginArray();
      for (float x : v) w.Float(x);
      w.EndArray().EndObject().EndArray().EndObject();
    };
    auto build = [&] {
      nlohmann::json j;
      j["model_name"] = "digits";
      nlohmann::json o;
      o["name"] = "probabilities";
      o["datatype"] = "FP32";
      o["shape"] = {1, n};
      o["data"] = v;
      j["outputs"] = nlohmann::json::array({o});
      return j;
    };
    std::string sample;
    ours(&sample);
    double w = MedianMicros([&] {
      std::string out;
      ours(&out);
    });
    double nb = MedianMicros([&] { (void)build().dump(); });
    nlohmann::json built = build();
    double nd = MedianMicros([&] { (void)built.dump(); });
    printf("| response with %zu FP32 | %zu | %s | %s | %s | %.2fx |\n", n, sample.size(),
           Fmt(w).c_str(), Fmt(nb).c_str(), Fmt(nd).c_str(), nd / w);
  }
  printf("\nratio: nlohmann dump only / JsonWriter (above 1: ours is faster).\n\n");
}

// A string written as JSON (common/json AppendJsonString against nlohmann::json's dump of the
// same string): a request body as the gateway puts it into a Lambda event, and prose.
void JsonStringSection(const std::string& root) {
  printf("### JSON string escaping: AppendJsonString vs nlohmann::json\n\n");
  printf("| string | bytes | AppendJsonString | nlohmann dump | ratio |\n");
  printf("| --- | --- | --- | --- | --- |\n");
  std::string body = ReadFile(root + "/examples/digits/requests/infer.json").value();
  std::string prose = ReadFile(root + "/README.md").value();
  for (const auto& [label, text] :
       {std::pair<const char*, const std::string&>{"examples/digits request body", body},
        std::pair<const char*, const std::string&>{"README.md (prose, UTF-8)", prose}}) {
    double ours = MedianMicros([&] {
      std::string out;
      AppendJsonString(&out, text);
    });
    nlohmann::json j = text;
    double theirs = MedianMicros([&] { (void)j.dump(); });
    printf("| %s | %zu | %s | %s | %.2fx |\n", label, text.size(), Fmt(ours).c_str(),
           Fmt(theirs).c_str(), theirs / ours);
  }
  printf("\nratio: nlohmann / ours (above 1: ours is faster).\n\n");
}

void Sha256Section() {
  printf("### SHA-256 of 23 MB (OpenSSL EVP)\n\n| how | time | MB/s |\n| --- | --- | --- |\n");
  const size_t n = 23u << 20;
  std::string buf(n, '\0');
  std::mt19937 rng(9);
  for (char& c : buf) c = static_cast<char>(rng());
  double one = MedianMicros([&] { (void)Sha256Hex(buf); }, 1.0);
  printf("| Sha256Hex (one shot, in memory) | %s | %.0f |\n", Fmt(one).c_str(), n / one);
  char path[] = "/tmp/modelfn-sha-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0 && write(fd, buf.data(), n) == static_cast<ssize_t>(n)) {
    double file = MedianMicros([&] { (void)Sha256File(path); }, 1.0);
    printf("| Sha256File (1 MiB reads, page cache) | %s | %.0f |\n", Fmt(file).c_str(), n / file);
  }
  if (fd >= 0) {
    close(fd);
    unlink(path);
  }
  printf("\n");
}

void Base64Section() {
  printf("### base64 decode of 1 MB of text\n\n| decoder | time | MB/s |\n| --- | --- | --- |\n");
  std::string bin(768u << 10, '\0');
  std::mt19937 rng(11);
  for (char& c : bin) c = static_cast<char>(rng());
  const std::string text = Base64Encode(bin);
  double ours = MedianMicros([&] { (void)Base64Decode(text); });
  std::string out(text.size(), '\0');
  double block = MedianMicros([&] {
    EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                    reinterpret_cast<const unsigned char*>(text.data()),
                    static_cast<int>(text.size()));
  });
  double stream = MedianMicros([&] {
    EVP_ENCODE_CTX* ctx = EVP_ENCODE_CTX_new();
    EVP_DecodeInit(ctx);
    int a = 0, b = 0;
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    EVP_DecodeUpdate(ctx, o, &a, reinterpret_cast<const unsigned char*>(text.data()),
                     static_cast<int>(text.size()));
    EVP_DecodeFinal(ctx, o + a, &b);
    EVP_ENCODE_CTX_free(ctx);
  });
  // modelfn's former decoder: strip line breaks and spaces, then EVP_DecodeBlock.
  double former = MedianMicros([&] {
    std::string clean;
    for (char c : text) {
      if (c != '\n' && c != '\r' && c != ' ') clean.push_back(c);
    }
    std::string dec(clean.size() / 4 * 3, '\0');
    EVP_DecodeBlock(reinterpret_cast<unsigned char*>(dec.data()),
                    reinterpret_cast<const unsigned char*>(clean.data()),
                    static_cast<int>(clean.size()));
  });
  const double mb = static_cast<double>(text.size());
  printf("| common/base64 Base64Decode (strict) | %s | %.0f |\n", Fmt(ours).c_str(), mb / ours);
  printf("| former Base64Decode (copy, EVP_DecodeBlock) | %s | %.0f |\n", Fmt(former).c_str(),
         mb / former);
  printf("| OpenSSL EVP_DecodeBlock alone (lax) | %s | %.0f |\n", Fmt(block).c_str(), mb / block);
  printf("| OpenSSL EVP_DecodeUpdate + Final | %s | %.0f |\n\n", Fmt(stream).c_str(), mb / stream);
}

}  // namespace
}  // namespace modelfn

int main(int argc, char** argv) {
  std::string root = MODELFN_SOURCE_DIR;
  int limit = 60;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--validate-only") == 0) {
      modelfn::JsonValidateSection();
      return 0;
    }
    if (std::strcmp(argv[i], "--strings-only") == 0) {
      modelfn::JsonStringSection(root);
      return 0;
    }
    if (std::strcmp(argv[i], "--legacy-limit-s") == 0 && i + 1 < argc) {
      limit = std::atoi(argv[++i]);
    } else {
      root = argv[i];
    }
  }
  modelfn::JsonParseSection(root, limit);
  modelfn::JsonValidateSection();
  modelfn::JsonWriteSection();
  modelfn::JsonStringSection(root);
  modelfn::Sha256Section();
  modelfn::Base64Section();
  return 0;
}
