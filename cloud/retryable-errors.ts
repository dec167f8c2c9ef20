/**
 * Which answers of the cloud APIs minescan calls mean "try again later", from each
 * API's own documentation:
 *   EBS direct APIs ("Error retries"): RequestThrottledException (400; Reason
 *     ACCOUNT_THROTTLED, DEPENDENCY_REQUEST_THROTTLED or RESOURCE_LEVEL_THROTTLE),
 *     ThrottlingException (400), ConcurrentLimitExceededException (400, too many
 *     requests in flight), InternalServerException (500). Not ValidationException,
 *     AccessDeniedException, ResourceNotFoundException, ServiceQuotaExceededException.
 *   EC2 Query API: RequestLimitExceeded (503), Unavailable and ServiceUnavailable
 *     (503), InternalError (500), SnapshotCreationPerVolumeRateExceeded (a volume may
 *     be snapshotted only every few seconds).
 *   Alibaba Cloud ECS (RPC): Throttling, Throttling.User, Throttling.Api and the other
 *     Throttling.* codes (400), ServiceUnavailable (503), InternalError (500),
 *     OperationConflict (a previous operation on the resource is still running).
 * The AWS SDK does not mark RequestThrottledException retryable, and minescan turns the
 * SDKs' own retries off (they would multiply ours), so the codes are named here.
 * Any 5xx and 429 is passing whatever its code; any other 4xx is final.
 */

const THROTTLING = new Set([
  'RequestThrottledException',
  'ThrottlingException',
  'ConcurrentLimitExceededException',
  'RequestLimitExceeded',
  'SnapshotCreationPerVolumeRateExceeded',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestThrottled',
  'SlowDown',
  'PriorRequestNotComplete',
  'EC2ThrottledException',
  'BandwidthLimitExceeded',
]);

const TRANSIENT = new Set([
  'InternalServerException',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'Unavailable',
  'OperationConflict',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

/** Failures of the connection itself (reset, timed out, cut mid-body), never of the request. */
const NETWORK = /ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|socket hang up|aborted|premature close/i;

interface ProviderError {
  name?: string;
  code?: string;
  statusCode?: number;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  message?: string;
}

/** The provider's error code: the AWS SDK puts it in `name`, the Alibaba Cloud SDK in `code`. */
export function errorCode(err: unknown): string | undefined {
  const e = err as ProviderError | undefined;
  const code = typeof e?.code === 'string' && !/^E[A-Z]+$/.test(e.code) ? e.code : undefined;
  return code ?? (e?.name && e.name !== 'Error' ? e.name : undefined);
}

export function isRetryable(err: unknown): boolean {
  const e = err as ProviderError | undefined;
  // minescan's own verdicts on what came back (a checksum that fails) are not the service's.
  if (!e || e.name === 'MountfsError') return false;
  const code = errorCode(err) ?? '';
  if (THROTTLING.has(code) || code.startsWith('Throttling.') || TRANSIENT.has(code)) return true;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode ?? e.statusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  return NETWORK.test(String(e.message ?? '')) || NETWORK.test(String(e.code ?? ''));
}
