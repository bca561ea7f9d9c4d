#pragma once
// How long ranks that train one run in lock step wait in a collective before
// they declare a peer lost (Comm::set_wait_limit): ELMRUN_COLLECTIVE_TIMEOUT
// seconds, default 900 (longer than any validation pass or checkpoint write a
// peer may be busy with); 0 waits for ever.
namespace elm {

inline constexpr double kDefaultCollectiveTimeoutSeconds = 900;

double collective_timeout_seconds();

}  // namespace elm
