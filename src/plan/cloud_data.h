// The clouds as data (docs/plan.md, "Data files"): each target's sizes, scaling and billing rules
// (data/plan/clouds.json) and its prices (data/plan/prices.json, versioned, with date and source).
// Both are built into the binary; `modelfn plan --prices FILE` reads other prices.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "plan/simulator.h"

namespace modelfn {
namespace plan {

struct Size {
  int memory_mb = 0;
  double vcpu = 0;
  int max_concurrency = 0;  // the most requests at once this size allows (0: the target's max)
};

struct CloudTarget {
  std::string id;
  std::string title;
  std::vector<Size> sizes;
  TargetRules rules;  // concurrency is the default; scale, billing, idle from the data
  int concurrency_max = 1;
  std::map<int, int> concurrency_by_memory;  // a per-size default (Azure Flex), when documented
  std::vector<std::string> sources;          // URLs the rules rest on
  std::vector<std::string> assumptions;      // values marked undocumented, with their note
};

struct Rates {
  double gb_second = 0;    // per GB (1,024 MB) of configured memory per second
  double gib_second = 0;   // per GiB of memory per second
  double vcpu_second = 0;  // per vCPU per second
  // Dollars per second of one instance of `size`.
  double PerSecond(const Size& size) const;
};

struct TargetPrices {
  std::string region, source, date_checked, note;
  double per_request = 0;
  double min_per_request = 0;  // requests served by min instances
  Rates active;                // on-demand billed time
  Rates min_idle;              // min / provisioned / always-ready instances while kept
  Rates min_active;            // billed time on those instances
  // Lambda's provisioned concurrency and Flex's always ready bill min_idle for the whole time;
  // Cloud Run's min instances bill it only while idle.
  bool min_idle_whole_time = true;
  double free_requests = 0;
  Rates free_seconds;  // free grants per month, in the same units (GB-s, GiB-s, vCPU-s)
};

struct PriceBook {
  std::string version;   // "price_version"
  std::string currency;  // "USD"
  std::string origin;    // "built in" or the file read
  std::map<std::string, TargetPrices> targets;
};

// Parses clouds.json. InvalidArgument (reason "invalid_cloud_data") naming the target and field.
StatusOr<std::map<std::string, CloudTarget>> ParseClouds(std::string_view json);
// Parses a prices file. InvalidArgument (reason "invalid_prices") naming the target and field.
StatusOr<PriceBook> ParsePrices(std::string_view json, const std::string& origin);

// The built-in files' bytes.
std::string_view BuiltInClouds();
std::string_view BuiltInPrices();

}  // namespace plan
}  // namespace modelfn
