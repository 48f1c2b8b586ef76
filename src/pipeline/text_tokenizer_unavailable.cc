// TextTokenizer for builds without the Rust tokenizer (no cargo at configure time, or a cross
// build): every load is refused, so a text input is refused when its function starts.
#include "pipeline/text_tokenizer.h"

namespace modelfn {

bool TextTokenizer::Available() { return false; }
const char* TextTokenizer::UnavailableReason() { return MODELFN_TOKENIZER_UNAVAILABLE; }

StatusOr<std::unique_ptr<TextTokenizer>> TextTokenizer::Load(std::string_view, size_t,
                                                             const std::string& origin) {
  return Status(StatusCode::kUnimplemented,
                "cannot load " + origin +
                    ": this modelfn-fn was built without the text tokenizer (" +
                    std::string(MODELFN_TOKENIZER_UNAVAILABLE) + ")",
                "pipeline_unsupported");
}

TextTokenizer::~TextTokenizer() = default;

StatusOr<TokenBatch> TextTokenizer::Encode(const std::vector<std::string_view>&) const {
  return InternalError("no text tokenizer in this build");
}

}  // namespace modelfn
