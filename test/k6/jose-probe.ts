import '../../lib/polyfills.ts';
export { default, options } from './jose-body.ts';
