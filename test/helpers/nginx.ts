/**
 * The tests that put nginx in front of the reference service need an nginx (apt-get install -y
 * nginx-light, or WSGATE_NGINX): without one they skip on a developer machine, with the reason, and
 * fail under CI=true.
 */
import { findNginx } from '../../reference-service/nginx.ts';
import { skipUnlessCi } from './tools.ts';

/** Why there is no usable nginx (reference-service/nginx.ts's sentence), or undefined when there is one. */
export function nginxMissing(env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    findNginx(undefined, env);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** node:test's `skip` option for a test that needs nginx (see {@link skipUnlessCi}). */
export function nginxSkip(env: NodeJS.ProcessEnv = process.env): string | false {
  return skipUnlessCi(nginxMissing(env), env);
}
