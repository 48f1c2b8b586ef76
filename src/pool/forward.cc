#include "pool/forward.h"

#include <utility>

#include "faces/aws/api_gateway.h"
#include "http/problem.h"

namespace modelfn {

// One codec for both sides of the API Gateway payload (src/faces/aws): these adapt the pool's
// structs to it without copying the request.
std::string BuildHttpApiEvent(const ForwardRequest& r, const std::string& request_id,
                              int64_t wall_ms) {
  return aws::EncodeHttpApiEvent(aws::ApiRequestView{r.method, r.path, r.query, r.body, &r.headers,
                                                     r.content_type, r.request_id, r.source_ip},
                                 request_id, wall_ms);
}

ForwardReply ParseHttpApiResponse(std::string_view payload) {
  ForwardReply reply;
  auto decoded = aws::DecodeHttpApiResponse(payload);
  if (!decoded.ok()) {
    Problem p = MakeProblem(decoded.status().reason(), decoded.status().message());
    reply.status = p.status;
    reply.content_type = std::string(kProblemContentType);
    reply.body = p.ToJson();
    return reply;
  }
  reply.status = decoded->status;
  reply.content_type = std::move(decoded->content_type);
  reply.headers = std::move(decoded->headers);
  reply.body = std::move(decoded->body);
  return reply;
}

}  // namespace modelfn
