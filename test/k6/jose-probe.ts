import '../../lib/polyfills.ts';
export { default, handleSummary, options } from './jose-body.ts';
