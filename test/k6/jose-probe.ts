import '../../lib/polyfills.ts';
export { default, handleSummary, options, setup } from './jose-body.ts';
